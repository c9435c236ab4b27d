//! Port forwards at the host (SPEC.md 6.8, 11.1): the ports it publishes,
//! and each forward stream between a participant (sealed) or the relay
//! (an HTTP tunnel, in the clear) and a local port. The application
//! connects to `127.0.0.1:port` when asked and moves bytes; the machine
//! decides which streams exist, seals and opens them, and keeps each
//! direction within its window.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use taiku_crypto::{Opened, Start, StreamOpener, random_epoch};
use taiku_proto::limits::RELAY_STREAM_BASE;
use taiku_proto::message::{self as m, ForwardEnd, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SealedFrame, TerminalId};

use super::{Host, HostEvent, Phase};
use crate::forward::{
    self, Flow, ForwardError, ForwardEvent, ForwardId, PublishError, Sending, close_frame,
    credit_frame,
};

/// What the host knows of forwards.
#[derive(Default)]
pub(super) struct Forwards {
    /// Published ports, ascending.
    ports: Vec<u32>,
    /// Those the relay may serve as HTTP tunnels, ascending.
    http: Vec<u32>,
    streams: BTreeMap<ForwardId, Stream>,
    /// The highest sealed stream id each participant started under its
    /// current ticket: a stream id is never started twice.
    last: BTreeMap<ParticipantId, u32>,
}

impl Forwards {
    fn stream_mut(&mut self, id: ForwardId) -> Result<&mut Stream, ForwardError> {
        self.streams.get_mut(&id).ok_or(ForwardError::UnknownStream)
    }
}

struct Stream {
    port: u32,
    flow: Flow,
    /// Sealed forwards: the participant's run and whether its start (the
    /// ticket, naming this stream) was accepted; `None` for HTTP tunnels.
    up: Option<(StreamOpener, bool)>,
    /// The host's direction back, made once the application connected.
    down: Option<Sending>,
    peer_finished: bool,
}

impl Stream {
    fn http(&self) -> bool {
        self.up.is_none()
    }
}

/// The stream a message from the relay names.
fn wire_id(stream: u32, participant: u32) -> ForwardId {
    ForwardId {
        participant: ParticipantId(participant),
        stream,
    }
}

impl<R: CryptoRng> Host<R> {
    /// The published ports, ascending.
    pub fn tunnel_ports(&self) -> &[u32] {
        &self.forwards.ports
    }

    /// The published ports the relay may serve as HTTP tunnels.
    pub fn http_tunnel_ports(&self) -> &[u32] {
        &self.forwards.http
    }

    /// Publish `port`: writers and admins may forward to it sealed, and
    /// the relay serves it as an HTTP tunnel (SPEC.md 6.8, 12.4), which
    /// lets the relay reach it too. Participants learn of it from
    /// `TunnelPorts`.
    pub fn publish(&mut self, port: u32) -> Result<(), PublishError> {
        self.publish_with(port, true)
    }

    /// Publish `port` for sealed forwards only: the relay cannot reach it.
    /// A port published before with HTTP loses it (its open HTTP tunnel
    /// streams go on to their end).
    pub fn publish_sealed(&mut self, port: u32) -> Result<(), PublishError> {
        self.publish_with(port, false)
    }

    fn publish_with(&mut self, port: u32, http: bool) -> Result<(), PublishError> {
        let mut changed = forward::publish(&mut self.forwards.ports, port)?;
        let listed = self.forwards.http.binary_search(&port);
        match (http, listed) {
            (true, Err(at)) => {
                self.forwards.http.insert(at, port);
                changed = true;
            }
            (false, Ok(at)) => {
                self.forwards.http.remove(at);
                changed = true;
            }
            _ => {}
        }
        if changed {
            self.announce_ports();
        }
        Ok(())
    }

    /// Withdraw `port`: its open forwards close (`NOT_PUBLISHED`, and a
    /// [`ForwardEvent::Closed`] for each) and no new one opens. False
    /// if it was not published.
    pub fn withdraw(&mut self, port: u32) -> bool {
        let Ok(at) = self.forwards.ports.binary_search(&port) else {
            return false;
        };
        self.forwards.ports.remove(at);
        self.forwards.http.retain(|p| *p != port);
        let ids: Vec<ForwardId> = self
            .forwards
            .streams
            .iter()
            .filter(|(_, s)| s.port == port)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.end_forward(id, ForwardEnd::NotPublished, true);
        }
        self.announce_ports();
        true
    }

    /// Nothing published: a new session need not say so.
    pub(super) fn forwards_idle(&self) -> bool {
        self.forwards.ports.is_empty()
    }

    pub(super) fn announce_ports(&mut self) {
        if self.phase == Phase::Online {
            self.out
                .push_back(Frame::control(Body::TunnelPorts(m::TunnelPorts {
                    ports: self.forwards.ports.clone(),
                    http: self.forwards.http.clone(),
                })));
        }
    }

    /// An admin's verified `TunnelAdmin`.
    pub(super) fn tunnel_admin(&mut self, by: ParticipantId, port: u32, enable: bool) {
        let changed = if enable {
            self.publish(port).is_ok_and(|()| true)
        } else {
            self.withdraw(port)
        };
        if changed {
            self.events.push_back(HostEvent::TunnelsChanged {
                ports: self.forwards.ports.clone(),
                http: self.forwards.http.clone(),
                by,
            });
        }
    }

    /// The application connected forward `id` to its local port: the
    /// stream is open and data may flow back.
    pub fn forward_connected(&mut self, id: ForwardId) -> Result<(), ForwardError> {
        let epoch = random_epoch(&mut self.rng);
        let s = self.forwards.stream_mut(id)?;
        if s.down.is_some() {
            return Ok(());
        }
        let Some((opener, _)) = &s.up else {
            s.down = Some(Sending::plain(id));
            return Ok(());
        };
        {
            // The answer names the participant's run: a relay cannot
            // answer one forward with another's stream.
            let up_epoch: Epoch = opener.epoch().unwrap_or(Epoch([0; 16]));
            let Ok(mut down) = self.keys.sealer(
                TerminalId(id.stream),
                Direction::ForwardDown,
                id.participant,
                epoch,
            ) else {
                unreachable!("the host holds every role")
            };
            if let Ok(start) = down.seal(&up_epoch.0) {
                self.out.push_back(Frame::Sealed(start));
            }
            s.down = Some(Sending::sealed(id, down));
        }
        Ok(())
    }

    /// The application could not connect forward `id` (nothing listens on
    /// the port): the stream closes with `REFUSED`.
    pub fn forward_refused(&mut self, id: ForwardId) {
        self.end_forward(id, ForwardEnd::Refused, false);
    }

    /// Send bytes of forward `id` from the local port: returns how many
    /// were taken (at most [`FORWARD_CHUNK`](crate::forward::FORWARD_CHUNK)
    /// and the credit left; 0 when the peer has not given credit back yet,
    /// which a [`ForwardEvent::Credit`] announces).
    pub fn forward_write(&mut self, id: ForwardId, data: &[u8]) -> Result<usize, ForwardError> {
        let s = self.forwards.stream_mut(id)?;
        let down = s.down.as_mut().ok_or(ForwardError::NotOpen)?;
        let (n, frame) = down.write(&mut s.flow, data)?;
        self.out.extend(frame);
        Ok(n)
    }

    /// The local port closed its sending side: the peer gets the end of
    /// the stream (FIN).
    pub fn forward_finish(&mut self, id: ForwardId) -> Result<(), ForwardError> {
        let s = self.forwards.stream_mut(id)?;
        let down = s.down.as_mut().ok_or(ForwardError::NotOpen)?;
        self.out.extend(down.finish()?);
        if s.peer_finished {
            self.forwards.streams.remove(&id);
        }
        Ok(())
    }

    /// The application wrote `n` bytes of forward `id` to the local port:
    /// credit goes back to the peer.
    pub fn forward_consumed(&mut self, id: ForwardId, n: usize) {
        let Some(s) = self.forwards.streams.get_mut(&id) else {
            return;
        };
        if let Some(bytes) = s.flow.delivered(n, s.peer_finished) {
            self.out.push_back(credit_frame(id, bytes));
        }
    }

    /// Abort forward `id` (the local connection failed): the peer gets
    /// `CLOSED`.
    pub fn forward_close(&mut self, id: ForwardId) {
        self.end_forward(id, ForwardEnd::Closed, false);
    }

    /// Forget a stream, telling the relay; and the application, if it did
    /// not end the stream itself.
    fn end_forward(&mut self, id: ForwardId, reason: ForwardEnd, tell: bool) {
        if self.forwards.streams.remove(&id).is_none() {
            return;
        }
        if self.phase == Phase::Online {
            self.out.push_back(close_frame(id, reason));
        }
        if tell {
            self.events
                .push_back(HostEvent::Forward(ForwardEvent::Closed { id, reason }));
        }
    }

    /// The connection to the relay is gone: every forward is.
    pub(super) fn forwards_offline(&mut self) {
        for id in core::mem::take(&mut self.forwards.streams).into_keys() {
            self.events
                .push_back(HostEvent::Forward(ForwardEvent::Closed {
                    id,
                    reason: ForwardEnd::HostOffline,
                }));
        }
    }

    /// A participant left: its forwards end, and its stream ids start over
    /// under its next ticket.
    pub(super) fn forwards_of_left(&mut self, who: ParticipantId) {
        self.forwards.last.remove(&who);
        let ids: Vec<ForwardId> = self
            .forwards
            .streams
            .keys()
            .filter(|id| id.participant == who)
            .copied()
            .collect();
        for id in ids {
            self.forwards.streams.remove(&id);
            self.events
                .push_back(HostEvent::Forward(ForwardEvent::Closed {
                    id,
                    reason: ForwardEnd::Closed,
                }));
        }
    }

    /// `ForwardOpen` from the relay.
    pub(super) fn forward_open(&mut self, msg: m::ForwardOpen) {
        let id = wire_id(msg.stream, msg.participant);
        if self.phase != Phase::Online || self.forwards.streams.contains_key(&id) {
            return;
        }
        let refusal = if self.forwards.ports.binary_search(&msg.port).is_err() {
            Some(ForwardEnd::NotPublished)
        } else if msg.http && self.forwards.http.binary_search(&msg.port).is_err() {
            // Published for sealed forwards only: not for the relay.
            Some(ForwardEnd::Denied)
        } else if !matches!(
            self.role_of(id.participant),
            Some(Role::Writer | Role::Admin)
        ) || id.participant == ParticipantId::HOST
            || msg.http != (id.stream >= RELAY_STREAM_BASE)
        {
            Some(ForwardEnd::Denied)
        } else if self.forwards.streams.len() >= self.config.max_forwards {
            Some(ForwardEnd::Limit)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.out.push_back(close_frame(id, reason));
            return;
        }
        let up = if msg.http {
            None
        } else {
            match self.keys.opener(
                TerminalId(id.stream),
                Direction::ForwardUp,
                Start::FromStart,
            ) {
                Ok(opener) => Some((opener.expect_participant(id.participant), false)),
                Err(_) => unreachable!("the host holds every role"),
            }
        };
        self.forwards.streams.insert(
            id,
            Stream {
                port: msg.port,
                flow: Flow::default(),
                up,
                down: None,
                peer_finished: false,
            },
        );
        // A sealed forward is connected only once its start proves it
        // fresh (below); an HTTP tunnel is the relay's word.
        if msg.http {
            self.events
                .push_back(HostEvent::Forward(ForwardEvent::Requested {
                    id,
                    port: msg.port,
                }));
        }
    }

    /// A participant's sealed forward frame.
    pub(super) fn forward_sealed(&mut self, frame: SealedFrame) {
        let h = *frame.header();
        let id = ForwardId {
            participant: h.participant,
            stream: h.terminal.0,
        };
        let Some(s) = self.forwards.streams.get_mut(&id) else {
            return;
        };
        let Some((opener, started)) = &mut s.up else {
            return;
        };
        let opened = match opener.open(&frame) {
            Ok(opened) => opened,
            // Tampered or out of sequence: the stream cannot go on.
            Err(_) => return self.end_forward(id, ForwardEnd::Closed, true),
        };
        match opened {
            Opened::Data(bytes) if !*started => {
                let port = s.port;
                let fresh = self.members.get(&id.participant).is_some_and(|member| {
                    member.ticket().is_forward_start(&bytes, id.stream, port)
                }) && self
                    .forwards
                    .last
                    .get(&id.participant)
                    .is_none_or(|last| *last < id.stream);
                if !fresh {
                    return self.end_forward(id, ForwardEnd::Denied, false);
                }
                *started = true;
                self.forwards.last.insert(id.participant, id.stream);
                self.events
                    .push_back(HostEvent::Forward(ForwardEvent::Requested { id, port }));
            }
            Opened::Data(bytes) => {
                if s.flow.received(bytes.len()).is_err() {
                    return self.end_forward(id, ForwardEnd::Limit, true);
                }
                self.events
                    .push_back(HostEvent::Forward(ForwardEvent::Data { id, data: bytes }));
            }
            Opened::End if !*started => self.end_forward(id, ForwardEnd::Closed, false),
            Opened::End => self.peer_finished(id),
        }
    }

    fn peer_finished(&mut self, id: ForwardId) {
        let Some(s) = self.forwards.streams.get_mut(&id) else {
            return;
        };
        s.peer_finished = true;
        let done = s.down.as_ref().is_some_and(Sending::is_finished);
        self.events
            .push_back(HostEvent::Forward(ForwardEvent::Finished { id }));
        if done {
            self.forwards.streams.remove(&id);
        }
    }

    /// `ForwardData` from the relay (HTTP tunnels only).
    pub(super) fn forward_data(&mut self, msg: m::ForwardData) {
        let id = wire_id(msg.stream, msg.participant);
        let Some(s) = self.forwards.streams.get_mut(&id) else {
            return;
        };
        if !s.http() || s.peer_finished {
            return;
        }
        if !msg.data.is_empty() {
            if s.flow.received(msg.data.len()).is_err() {
                return self.end_forward(id, ForwardEnd::Limit, true);
            }
            self.events
                .push_back(HostEvent::Forward(ForwardEvent::Data {
                    id,
                    data: msg.data,
                }));
        }
        if msg.fin {
            self.peer_finished(id);
        }
    }

    /// `ForwardCredit` from the relay.
    pub(super) fn forward_credit(&mut self, msg: m::ForwardCredit) {
        let id = wire_id(msg.stream, msg.participant);
        let Some(s) = self.forwards.streams.get_mut(&id) else {
            return;
        };
        if s.flow.credited(msg.bytes).is_err() {
            return self.end_forward(id, ForwardEnd::Limit, true);
        }
        self.events
            .push_back(HostEvent::Forward(ForwardEvent::Credit {
                id,
                bytes: msg.bytes as usize,
            }));
    }

    /// `ForwardClose` from the relay.
    pub(super) fn forward_closed(&mut self, msg: m::ForwardClose) {
        let id = wire_id(msg.stream, msg.participant);
        if self.forwards.streams.remove(&id).is_some() {
            let reason = ForwardEnd::try_from(msg.reason).unwrap_or(ForwardEnd::Closed);
            self.events
                .push_back(HostEvent::Forward(ForwardEvent::Closed { id, reason }));
        }
    }
}
