//! Port forwards at the host (SPEC.md 6.8, 11.1): the ports it publishes,
//! and each forward stream between a participant (sealed) or the relay
//! (an HTTP tunnel, in the clear) and a local port. The application
//! connects to `127.0.0.1:port` when asked and moves bytes; the machine
//! decides which streams exist, seals and opens them, and keeps each
//! direction within its window.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand_core::CryptoRng;
use taiku_crypto::{Opened, Start, StreamOpener, StreamSealer, random_epoch};
use taiku_proto::limits::RELAY_STREAM_BASE;
use taiku_proto::message::{self as m, ForwardEnd, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SealedFrame, TerminalId};

use super::{Host, HostEvent, Phase};
use crate::forward::{self, Flow, ForwardError, ForwardId, PublishError};

/// What the host knows of forwards.
#[derive(Default)]
pub(super) struct Forwards {
    /// Published ports, ascending.
    ports: Vec<u32>,
    streams: BTreeMap<ForwardId, Stream>,
    /// The highest sealed stream id each participant started under its
    /// current ticket: a stream id is never started twice.
    last: BTreeMap<ParticipantId, u32>,
}

struct Stream {
    port: u32,
    flow: Flow,
    /// Sealed forwards: the participant's run and whether its start (the
    /// ticket, naming this stream) was accepted; `None` for HTTP tunnels.
    up: Option<(StreamOpener, bool)>,
    /// The host's run back, made once the application connected.
    down: Option<StreamSealer>,
    connected: bool,
    finished: bool,
    peer_finished: bool,
}

impl Stream {
    fn http(&self) -> bool {
        self.up.is_none()
    }
}

fn close_frame(id: ForwardId, reason: ForwardEnd) -> Frame {
    Frame::control(Body::ForwardClose(m::ForwardClose {
        stream: id.stream,
        participant: id.participant.0,
        reason: reason as i32,
    }))
}

impl<R: CryptoRng> Host<R> {
    /// The published ports, ascending.
    pub fn tunnel_ports(&self) -> &[u32] {
        &self.forwards.ports
    }

    /// Publish `port`: writers and admins may forward to it, and the
    /// relay serves it as an HTTP tunnel (SPEC.md 6.8). Participants learn
    /// of it from `TunnelPorts`.
    pub fn publish(&mut self, port: u32) -> Result<(), PublishError> {
        if forward::publish(&mut self.forwards.ports, port)? {
            self.announce_ports();
        }
        Ok(())
    }

    /// Withdraw `port`: its open forwards close (`NOT_PUBLISHED`, and a
    /// [`HostEvent::ForwardClosed`] for each) and no new one opens. False
    /// if it was not published.
    pub fn withdraw(&mut self, port: u32) -> bool {
        let Ok(at) = self.forwards.ports.binary_search(&port) else {
            return false;
        };
        self.forwards.ports.remove(at);
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
                by,
            });
        }
    }

    /// The application connected forward `id` to its local port: the
    /// stream is open and data may flow back.
    pub fn forward_connected(&mut self, id: ForwardId) -> Result<(), ForwardError> {
        let epoch = random_epoch(&mut self.rng);
        let s = self
            .forwards
            .streams
            .get_mut(&id)
            .ok_or(ForwardError::UnknownStream)?;
        s.connected = true;
        if let Some((opener, _)) = &s.up {
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
            s.down = Some(down);
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
    /// which a [`HostEvent::ForwardCredit`] announces).
    pub fn forward_write(&mut self, id: ForwardId, data: &[u8]) -> Result<usize, ForwardError> {
        let s = self
            .forwards
            .streams
            .get_mut(&id)
            .ok_or(ForwardError::UnknownStream)?;
        if !s.connected {
            return Err(ForwardError::NotOpen);
        }
        if s.finished {
            return Err(ForwardError::Finished);
        }
        let n = s.flow.take(data.len());
        if n == 0 {
            return Ok(0);
        }
        let frame = match &mut s.down {
            Some(down) => match down.seal(&data[..n]) {
                Ok(sealed) => Frame::Sealed(sealed),
                Err(_) => return Err(ForwardError::Finished),
            },
            None => Frame::control(Body::ForwardData(m::ForwardData {
                stream: id.stream,
                participant: id.participant.0,
                data: Bytes::copy_from_slice(&data[..n]),
                fin: false,
            })),
        };
        self.out.push_back(frame);
        Ok(n)
    }

    /// The local port closed its sending side: the peer gets the end of
    /// the stream (FIN).
    pub fn forward_finish(&mut self, id: ForwardId) -> Result<(), ForwardError> {
        let s = self
            .forwards
            .streams
            .get_mut(&id)
            .ok_or(ForwardError::UnknownStream)?;
        if !s.connected {
            return Err(ForwardError::NotOpen);
        }
        if s.finished {
            return Ok(());
        }
        s.finished = true;
        let frame = match &mut s.down {
            Some(down) => match down.finish() {
                Ok(sealed) => Frame::Sealed(sealed),
                Err(_) => return Err(ForwardError::Finished),
            },
            None => Frame::control(Body::ForwardData(m::ForwardData {
                stream: id.stream,
                participant: id.participant.0,
                data: Bytes::new(),
                fin: true,
            })),
        };
        self.out.push_back(frame);
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
            self.out
                .push_back(Frame::control(Body::ForwardCredit(m::ForwardCredit {
                    stream: id.stream,
                    participant: id.participant.0,
                    bytes,
                })));
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
                .push_back(HostEvent::ForwardClosed { id, reason });
        }
    }

    /// The connection to the relay is gone: every forward is.
    pub(super) fn forwards_offline(&mut self) {
        for id in core::mem::take(&mut self.forwards.streams).into_keys() {
            self.events.push_back(HostEvent::ForwardClosed {
                id,
                reason: ForwardEnd::HostOffline,
            });
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
            self.events.push_back(HostEvent::ForwardClosed {
                id,
                reason: ForwardEnd::Closed,
            });
        }
    }

    /// `ForwardOpen` from the relay.
    pub(super) fn forward_open(&mut self, msg: m::ForwardOpen) {
        let id = ForwardId {
            participant: ParticipantId(msg.participant),
            stream: msg.stream,
        };
        if self.phase != Phase::Online || self.forwards.streams.contains_key(&id) {
            return;
        }
        let refusal = if self.forwards.ports.binary_search(&msg.port).is_err() {
            Some(ForwardEnd::NotPublished)
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
                connected: false,
                finished: false,
                peer_finished: false,
            },
        );
        // A sealed forward is connected only once its start proves it
        // fresh (below); an HTTP tunnel is the relay's word.
        if msg.http {
            self.events
                .push_back(HostEvent::ForwardRequested { id, port: msg.port });
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
                let fresh = self.members.get(&id.participant).is_some_and(|member| {
                    member.ticket().run_index(&bytes) == Some(u64::from(id.stream))
                }) && self
                    .forwards
                    .last
                    .get(&id.participant)
                    .is_none_or(|last| *last < id.stream);
                if !fresh {
                    return self.end_forward(id, ForwardEnd::Denied, false);
                }
                *started = true;
                let port = s.port;
                self.forwards.last.insert(id.participant, id.stream);
                self.events
                    .push_back(HostEvent::ForwardRequested { id, port });
            }
            Opened::Data(bytes) => {
                if s.flow.received(bytes.len()).is_err() {
                    return self.end_forward(id, ForwardEnd::Limit, true);
                }
                self.events
                    .push_back(HostEvent::ForwardData { id, data: bytes });
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
        let done = s.finished;
        self.events.push_back(HostEvent::ForwardFinished { id });
        if done {
            self.forwards.streams.remove(&id);
        }
    }

    /// `ForwardData` from the relay (HTTP tunnels only).
    pub(super) fn forward_data(&mut self, msg: m::ForwardData) {
        let id = ForwardId {
            participant: ParticipantId(msg.participant),
            stream: msg.stream,
        };
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
                .push_back(HostEvent::ForwardData { id, data: msg.data });
        }
        if msg.fin {
            self.peer_finished(id);
        }
    }

    /// `ForwardCredit` from the relay.
    pub(super) fn forward_credit(&mut self, msg: m::ForwardCredit) {
        let id = ForwardId {
            participant: ParticipantId(msg.participant),
            stream: msg.stream,
        };
        let Some(s) = self.forwards.streams.get_mut(&id) else {
            return;
        };
        if s.flow.credited(msg.bytes).is_err() {
            return self.end_forward(id, ForwardEnd::Limit, true);
        }
        self.events.push_back(HostEvent::ForwardCredit {
            id,
            bytes: msg.bytes as usize,
        });
    }

    /// `ForwardClose` from the relay.
    pub(super) fn forward_closed(&mut self, msg: m::ForwardClose) {
        let id = ForwardId {
            participant: ParticipantId(msg.participant),
            stream: msg.stream,
        };
        if self.forwards.streams.remove(&id).is_some() {
            let reason = ForwardEnd::try_from(msg.reason).unwrap_or(ForwardEnd::Closed);
            self.events
                .push_back(HostEvent::ForwardClosed { id, reason });
        }
    }
}
