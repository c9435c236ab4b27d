//! Port forwards of a participant (SPEC.md 6.8, 11.2): each stream to a
//! published port is a sealed run each way under the forward root, which
//! only writer and admin links hold. The first frame up names the host's
//! ticket and the stream (so a relay cannot start it again); the first
//! frame down names the run up (so a relay cannot answer one stream with
//! another). The relay forwards ciphertext only.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use taiku_crypto::{Opened, Start, StreamOpener, random_epoch};
use taiku_proto::limits::RELAY_STREAM_BASE;
use taiku_proto::message::{self as m, ForwardEnd, control::Body};
use taiku_proto::{Direction, Frame, ParticipantId, SealedFrame, TerminalId};

use super::{ActionError, Participant, ParticipantEvent};
use crate::access::Action;
use crate::forward::{
    Flow, ForwardError, ForwardEvent, ForwardId, Sending, close_frame, credit_frame,
};

/// Forwards one participant keeps open at once (the relay's
/// `max_forwards_per_participant` by default).
pub const MAX_FORWARDS: usize = 16;

#[derive(Default)]
pub(super) struct Forwards {
    /// The last stream id used on this connection.
    last: u32,
    streams: BTreeMap<u32, Stream>,
}

struct Stream {
    port: u32,
    flow: Flow,
    up: Sending,
    /// The epoch of the run up, which the host's start must name.
    up_epoch: taiku_proto::Epoch,
    down: StreamOpener,
    /// The host's answer (its run's start) arrived.
    open: bool,
    peer_finished: bool,
}

impl<R: CryptoRng> Participant<R> {
    /// The published ports, ascending.
    pub fn tunnel_ports(&self) -> &[u32] {
        &self.view.tunnels
    }

    /// Open a sealed forward to published `port` on the host (writers and
    /// admins). [`ForwardEvent::Opened`] follows once the host
    /// connected it, or [`ForwardEvent::Closed`] if it could
    /// not. Data written before it opens waits in the window.
    pub fn open_forward(&mut self, port: u32) -> Result<ForwardId, ActionError> {
        let me = self.allowed(Action::Forward, None)?;
        let ticket = self.inputs.ticket().ok_or(ActionError::NotReady)?;
        if !self.view.tunnels.contains(&port) {
            return Err(ActionError::NotPublished);
        }
        if self.forwards.streams.len() >= MAX_FORWARDS
            || self.forwards.last + 1 >= RELAY_STREAM_BASE
        {
            return Err(ActionError::TooManyForwards);
        }
        self.forwards.last += 1;
        let stream = self.forwards.last;
        let term = TerminalId(stream);
        let epoch = random_epoch(&mut self.rng);
        let (Ok(mut up), Ok(down)) = (
            self.keys.sealer(term, Direction::ForwardUp, me, epoch),
            self.keys
                .opener(term, Direction::ForwardDown, Start::FromStart),
        ) else {
            // `allowed` passed: the role is a writer's or an admin's.
            return Err(ActionError::Refused(crate::access::Refusal::ReadOnly));
        };
        let Ok(start) = up.seal(&ticket.forward_start(stream, port)) else {
            return Err(ActionError::TooManyForwards);
        };
        self.out
            .push_back(Frame::control(Body::ForwardOpen(m::ForwardOpen {
                stream,
                port,
                ..m::ForwardOpen::default()
            })));
        self.out.push_back(Frame::Sealed(start));
        let id = ForwardId {
            participant: me,
            stream,
        };
        self.forwards.streams.insert(
            stream,
            Stream {
                port,
                flow: Flow::default(),
                up_epoch: up.epoch(),
                up: Sending::sealed(id, up),
                down: down.expect_participant(me),
                open: false,
                peer_finished: false,
            },
        );
        Ok(id)
    }

    /// The port of an open forward.
    pub fn forward_port(&self, id: ForwardId) -> Option<u32> {
        self.forwards.streams.get(&id.stream).map(|s| s.port)
    }

    fn my_stream(&mut self, id: ForwardId) -> Result<&mut Stream, ForwardError> {
        if self.view.me.map(|(me, _)| me) != Some(id.participant) {
            return Err(ForwardError::UnknownStream);
        }
        self.forwards
            .streams
            .get_mut(&id.stream)
            .ok_or(ForwardError::UnknownStream)
    }

    /// Send bytes on forward `id`: returns how many were taken (at most
    /// [`FORWARD_CHUNK`](crate::forward::FORWARD_CHUNK) and the credit
    /// left; 0 until the host gives credit back, which a
    /// [`ForwardEvent::Credit`] announces).
    pub fn forward_write(&mut self, id: ForwardId, data: &[u8]) -> Result<usize, ForwardError> {
        let s = self.my_stream(id)?;
        let (n, frame) = s.up.write(&mut s.flow, data)?;
        self.out.extend(frame);
        Ok(n)
    }

    /// Finish sending on forward `id` (the local connection shut down its
    /// writing side): the host's end gets FIN.
    pub fn forward_finish(&mut self, id: ForwardId) -> Result<(), ForwardError> {
        let s = self.my_stream(id)?;
        let fin = s.up.finish()?;
        let done = s.peer_finished;
        self.out.extend(fin);
        if done {
            self.forwards.streams.remove(&id.stream);
        }
        Ok(())
    }

    /// The application delivered `n` bytes of forward `id`: credit goes
    /// back to the host.
    pub fn forward_consumed(&mut self, id: ForwardId, n: usize) {
        let Ok(s) = self.my_stream(id) else {
            return;
        };
        if let Some(bytes) = s.flow.delivered(n, s.peer_finished) {
            self.out.push_back(credit_frame(id, bytes));
        }
    }

    /// Abort forward `id`.
    pub fn forward_close(&mut self, id: ForwardId) {
        if self.my_stream(id).is_ok() {
            self.forwards.streams.remove(&id.stream);
            self.out.push_back(close_frame(id, ForwardEnd::Closed));
        }
    }

    /// Ask the relay for a credential for the session's HTTP tunnels
    /// (writers and admins, SPEC.md 12.4); it comes as
    /// [`ParticipantEvent::TunnelCredential`].
    pub fn request_tunnel_credential(&mut self) -> Result<(), ActionError> {
        self.allowed(Action::Forward, None)?;
        self.out
            .push_back(Frame::control(Body::TunnelCredentialRequest(
                m::TunnelCredentialRequest {},
            )));
        Ok(())
    }

    /// Every forward ends with the connection.
    pub(super) fn forwards_reset(&mut self) {
        let me = self.view.me.map_or(ParticipantId(0), |(me, _)| me);
        for stream in core::mem::take(&mut self.forwards.streams).into_keys() {
            self.events
                .push_back(ParticipantEvent::Forward(ForwardEvent::Closed {
                    id: ForwardId {
                        participant: me,
                        stream,
                    },
                    reason: ForwardEnd::Closed,
                }));
        }
    }

    fn forward_end(&mut self, id: ForwardId, reason: ForwardEnd, tell_relay: bool) {
        if self.forwards.streams.remove(&id.stream).is_none() {
            return;
        }
        if tell_relay {
            self.out.push_back(close_frame(id, reason));
        }
        self.events
            .push_back(ParticipantEvent::Forward(ForwardEvent::Closed {
                id,
                reason,
            }));
    }

    /// The host's sealed frame of a forward.
    pub(super) fn forward_sealed(&mut self, frame: &SealedFrame) {
        let h = *frame.header();
        let Some((me, _)) = self.view.me else {
            return;
        };
        if h.participant != me {
            return;
        }
        let id = ForwardId {
            participant: me,
            stream: h.terminal.0,
        };
        let Some(s) = self.forwards.streams.get_mut(&id.stream) else {
            return;
        };
        let opened = match s.down.open(frame) {
            Ok(opened) => opened,
            Err(_) => return self.forward_end(id, ForwardEnd::Closed, true),
        };
        match opened {
            Opened::Data(bytes) if !s.open => {
                if bytes.as_ref() != s.up_epoch.0 {
                    return self.forward_end(id, ForwardEnd::Closed, true);
                }
                s.open = true;
                self.events
                    .push_back(ParticipantEvent::Forward(ForwardEvent::Opened { id }));
            }
            Opened::Data(bytes) => {
                if s.flow.received(bytes.len()).is_err() {
                    return self.forward_end(id, ForwardEnd::Limit, true);
                }
                self.events
                    .push_back(ParticipantEvent::Forward(ForwardEvent::Data {
                        id,
                        data: bytes,
                    }));
            }
            Opened::End if !s.open => self.forward_end(id, ForwardEnd::Closed, true),
            Opened::End => {
                s.peer_finished = true;
                if s.up.is_finished() {
                    self.forwards.streams.remove(&id.stream);
                }
                self.events
                    .push_back(ParticipantEvent::Forward(ForwardEvent::Finished { id }));
            }
        }
    }

    /// Forward and tunnel control messages from the relay.
    pub(super) fn forward_control(&mut self, body: Body) {
        let me = self.view.me.map_or(ParticipantId(0), |(me, _)| me);
        match body {
            Body::TunnelPorts(t)
                if crate::forward::valid_tunnels(&t)
                    && (self.view.tunnels != t.ports || self.view.http_tunnels != t.http) =>
            {
                self.view.tunnels.clone_from(&t.ports);
                self.view.http_tunnels.clone_from(&t.http);
                self.events.push_back(ParticipantEvent::TunnelsChanged {
                    ports: t.ports,
                    http: t.http,
                });
            }
            Body::ForwardCredit(c) if c.participant == me.0 => {
                let id = ForwardId {
                    participant: me,
                    stream: c.stream,
                };
                let Some(s) = self.forwards.streams.get_mut(&c.stream) else {
                    return;
                };
                if s.flow.credited(c.bytes).is_err() {
                    return self.forward_end(id, ForwardEnd::Limit, true);
                }
                self.events
                    .push_back(ParticipantEvent::Forward(ForwardEvent::Credit {
                        id,
                        bytes: c.bytes as usize,
                    }));
            }
            Body::ForwardClose(c) if c.participant == me.0 => {
                let reason = ForwardEnd::try_from(c.reason).unwrap_or(ForwardEnd::Closed);
                let id = ForwardId {
                    participant: me,
                    stream: c.stream,
                };
                self.forward_end(id, reason, false);
            }
            Body::TunnelCredential(c) => {
                self.events.push_back(ParticipantEvent::TunnelCredential {
                    token: crate::forward::TunnelToken(c.token),
                    expires_in_ms: c.expires_in_ms,
                });
            }
            _ => {}
        }
    }
}
