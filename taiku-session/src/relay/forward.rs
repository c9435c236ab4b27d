//! Forwards at the relay (SPEC.md 6.8, 12.4): the ports a host publishes,
//! sealed forward streams between participants and the host (the relay
//! sees ciphertext and counts it against each direction's window), and
//! HTTP tunnel streams it opens itself for a tunnel connection whose
//! request carried a credential of an admitted writer or admin.

use std::collections::BTreeMap;
use std::time::Instant;

use base64ct::{Base64UrlUnpadded, Encoding};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use taiku_proto::limits::{FORWARD_CHUNK, FORWARD_WINDOW, RELAY_STREAM_BASE};
use taiku_proto::message::{self as m, ForwardEnd, control::Body};
use taiku_proto::{Frame, ParticipantId, Role, SealedFrame, SessionId, TerminalId};

use super::conn::{Conn, ConnState};
use super::{ConnId, Relay, Timer};
use crate::access::{self, Action, Refusal};
use crate::forward::{ForwardId, close_frame, valid_tunnels};

/// One forward stream as the relay tracks it.
#[derive(Debug)]
pub(super) struct RelayForward {
    /// The tunnel connection of an HTTP tunnel stream.
    http: Option<ConnId>,
    /// Data bytes in flight towards the host and back (sent, not yet
    /// credited).
    up: usize,
    down: usize,
    /// Data bytes towards the host and back in all (HTTP tunnels' size
    /// limits).
    up_total: u64,
    down_total: u64,
    /// The host sent something for it.
    answered: bool,
    /// The first sealed frame each way (a start, no data) was seen.
    up_started: bool,
    down_started: bool,
    up_fin: bool,
    down_fin: bool,
    opened_at: Instant,
}

/// What the relay keeps of a session's forwards.
#[derive(Debug, Default)]
pub(super) struct SessionForwards {
    /// The keys of each participant's HTTP tunnel credentials, oldest
    /// first.
    credentials: BTreeMap<ParticipantId, std::collections::VecDeque<[u8; 32]>>,
    pub(super) ports: Vec<u32>,
    /// Those of `ports` served as HTTP tunnels.
    pub(super) http: Vec<u32>,
    streams: BTreeMap<ForwardId, RelayForward>,
    next_http: u32,
}

/// An HTTP tunnel credential (stored by the SHA-256 of its token, so a
/// lookup compares no secret).
#[derive(Debug)]
pub(super) struct Credential {
    pub(super) session: SessionId,
    participant: ParticipantId,
    expires: Instant,
}

/// Why the relay did not open an HTTP tunnel stream; each maps to the
/// HTTP status the driver answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelRefusal {
    /// No valid credential for this session (none, expired, its
    /// participant left, or a reader's): `403`.
    #[error("no tunnel credential for this session")]
    Forbidden,
    /// The session does not exist or does not publish the port: `404`.
    #[error("the port is not published")]
    NotPublished,
    /// The host is offline: `502`.
    #[error("the host is offline")]
    HostOffline,
    /// Too many forwards open for the participant or the session: `503`.
    #[error("too many tunnel requests at once")]
    Busy,
}

impl TunnelRefusal {
    /// The HTTP status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            TunnelRefusal::Forbidden => 403,
            TunnelRefusal::NotPublished => 404,
            TunnelRefusal::HostOffline => 502,
            TunnelRefusal::Busy => 503,
        }
    }
}

fn credential_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Data bytes a sealed forward frame carries (its ciphertext without the
/// tag).
fn data_len(sealed: &SealedFrame) -> usize {
    sealed
        .ciphertext()
        .len()
        .saturating_sub(taiku_proto::limits::TAG_LEN)
}

impl<R: CryptoRng> Relay<R> {
    /// Open an HTTP tunnel stream on a new connection `conn` (named by the
    /// driver, not yet connected): the request for `/t/<session>/p/<port>/`
    /// carried `token`. On success the relay asks the host to connect to
    /// the port; the driver then speaks `ForwardData`, `ForwardCredit` and
    /// `ForwardClose` on `conn` ([`Relay::handle_frame`]) and receives
    /// them as [`Transmit`](super::Transmit)s, and the relay closes `conn`
    /// when the stream is over.
    pub fn open_tunnel(
        &mut self,
        conn: ConnId,
        session: &str,
        token: &str,
        port: u32,
        now: Instant,
    ) -> Result<(), TunnelRefusal> {
        if self.conns.contains_key(&conn) {
            return Err(TunnelRefusal::Busy);
        }
        let session = SessionId::new(session).map_err(|_| TunnelRefusal::NotPublished)?;
        let key = credential_key(token);
        let participant = match self.credentials.get(&key) {
            Some(c) if c.session == session && c.expires > now => c.participant,
            _ => return Err(TunnelRefusal::Forbidden),
        };
        let per_participant = self.config.max_forwards_per_participant;
        let per_session = self.config.max_forwards_per_session;
        let answer = self.config.forward_answer_timeout;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(TunnelRefusal::NotPublished)?;
        if !matches!(s.role_of(participant), Some(Role::Writer | Role::Admin)) {
            return Err(TunnelRefusal::Forbidden);
        }
        if s.forwards.http.binary_search(&port).is_err() {
            return Err(TunnelRefusal::NotPublished);
        }
        let host = s.host_conn().ok_or(TunnelRefusal::HostOffline)?;
        if s.forwards.count(participant) >= per_participant
            || s.forwards.streams.len() >= per_session
        {
            return Err(TunnelRefusal::Busy);
        }
        let stream = RELAY_STREAM_BASE | (s.forwards.next_http & !RELAY_STREAM_BASE);
        s.forwards.next_http = s.forwards.next_http.wrapping_add(1);
        let id = ForwardId {
            participant,
            stream,
        };
        if s.forwards.streams.contains_key(&id) {
            return Err(TunnelRefusal::Busy);
        }
        s.forwards
            .streams
            .insert(id, RelayForward::new(Some(conn), now));
        let mut c = Conn::new(now);
        c.state = ConnState::Tunnel {
            session: session.clone(),
            id,
        };
        self.conns.insert(conn, c);
        self.out.open(conn);
        self.send(
            host,
            Frame::control(Body::ForwardOpen(m::ForwardOpen {
                stream,
                port,
                participant: participant.0,
                http: true,
            })),
        );
        self.arm(now + answer, Timer::Forward(session, id));
        self.settle(now);
        Ok(())
    }

    /// Whether `token` is a live credential for `session`'s tunnels, of a
    /// writer or admin still in it (a tunnel login, SPEC.md 12.4).
    pub fn tunnel_credential_valid(&self, session: &str, token: &str, now: Instant) -> bool {
        let Ok(session) = SessionId::new(session) else {
            return false;
        };
        self.credentials
            .get(&credential_key(token))
            .filter(|c| c.session == session && c.expires > now)
            .and_then(|c| self.sessions.get(&session)?.role_of(c.participant))
            .is_some_and(|role| matches!(role, Role::Writer | Role::Admin))
    }

    /// `TunnelCredentialRequest` from a participant.
    pub(super) fn issue_credential(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        now: Instant,
    ) -> Result<(), Refusal> {
        access::check(role, id, Action::Forward, None)?;
        let mut bytes = [0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        let mut text = [0u8; 43];
        let token = Base64UrlUnpadded::encode(&bytes, &mut text)
            .map(str::to_owned)
            .unwrap_or_default();
        zeroize::Zeroize::zeroize(&mut bytes);
        zeroize::Zeroize::zeroize(&mut text);
        let ttl = self.config.tunnel_credential_ttl;
        // The oldest of this participant's credentials gives way.
        let key = credential_key(&token);
        let max = self.config.max_tunnel_credentials.max(1);
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        let mine = s.forwards.credentials.entry(id).or_default();
        while mine.len() >= max {
            if let Some(oldest) = mine.pop_front() {
                self.credentials.remove(&oldest);
            }
        }
        mine.push_back(key);
        self.credentials.insert(
            key,
            Credential {
                session: session.clone(),
                participant: id,
                expires: now + ttl,
            },
        );
        self.send(
            conn,
            Frame::control(Body::TunnelCredential(m::TunnelCredential {
                token,
                expires_in_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            })),
        );
        Ok(())
    }

    /// The host's `TunnelPorts`: kept for joiners and sent to everyone.
    pub(super) fn tunnel_ports(
        &mut self,
        session: &SessionId,
        msg: m::TunnelPorts,
    ) -> Result<(), (TerminalId, Refusal)> {
        if !valid_tunnels(&msg) {
            return Err((TerminalId(0), Refusal::Invalid));
        }
        if let Some(s) = self.sessions.get_mut(session) {
            s.forwards.ports.clone_from(&msg.ports);
            s.forwards.http.clone_from(&msg.http);
        }
        self.send_to_participants(session, &Frame::control(Body::TunnelPorts(msg)));
        Ok(())
    }

    /// A participant's `ForwardOpen`: checked, then sent to the host.
    pub(super) fn forward_open(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        msg: m::ForwardOpen,
        now: Instant,
    ) -> Result<(), (TerminalId, Refusal)> {
        let fid = ForwardId {
            participant: id,
            stream: msg.stream,
        };
        if msg.stream == 0 || msg.stream >= RELAY_STREAM_BASE || msg.http {
            return Err((TerminalId(0), Refusal::Invalid));
        }
        let per_participant = self.config.max_forwards_per_participant;
        let per_session = self.config.max_forwards_per_session;
        let answer = self.config.forward_answer_timeout;
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        if s.forwards.streams.contains_key(&fid) {
            return Err((TerminalId(0), Refusal::Invalid));
        }
        let refusal = if access::check(role, id, Action::Forward, None).is_err() {
            Some(ForwardEnd::Denied)
        } else if s.forwards.ports.binary_search(&msg.port).is_err() {
            Some(ForwardEnd::NotPublished)
        } else if s.host_conn().is_none() {
            Some(ForwardEnd::HostOffline)
        } else if s.forwards.count(id) >= per_participant || s.forwards.streams.len() >= per_session
        {
            Some(ForwardEnd::Limit)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.send(conn, close_frame(fid, reason));
            return Ok(());
        }
        let host = s.host_conn();
        s.forwards.streams.insert(fid, RelayForward::new(None, now));
        if let Some(host) = host {
            self.send(
                host,
                Frame::control(Body::ForwardOpen(m::ForwardOpen {
                    participant: id.0,
                    ..msg
                })),
            );
        }
        self.arm(now + answer, Timer::Forward(session.clone(), fid));
        Ok(())
    }

    /// A sealed `ForwardUp` frame from participant `id`.
    pub(super) fn forward_up(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        sealed: SealedFrame,
    ) -> Result<(), Refusal> {
        let h = *sealed.header();
        access::check_input_sender(h.participant, id)?;
        let fid = ForwardId {
            participant: id,
            stream: h.terminal.0,
        };
        let len = data_len(&sealed);
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        let host = s.host_conn().ok_or(Refusal::HostOffline)?;
        let f = match s.forwards.streams.get_mut(&fid) {
            Some(f) if f.http.is_none() && !f.up_fin => f,
            _ => return Err(Refusal::UnknownTerminal),
        };
        // A run's first frame (its start) carries no data for the window;
        // every later one counts, whatever its header says.
        if f.up_started {
            f.up += len;
        }
        f.up_started = true;
        f.up_fin |= h.fin;
        if len > FORWARD_CHUNK || f.up > FORWARD_WINDOW {
            self.end_forward(session, fid, ForwardEnd::Limit);
            return Ok(());
        }
        let done = f.up_fin && f.down_fin;
        self.send(host, Frame::Sealed(sealed));
        if done && let Some(s) = self.sessions.get_mut(session) {
            s.forwards.streams.remove(&fid);
        }
        Ok(())
    }

    /// A sealed `ForwardDown` frame from the host.
    pub(super) fn forward_down(
        &mut self,
        session: &SessionId,
        sealed: SealedFrame,
    ) -> Result<(), Refusal> {
        let h = *sealed.header();
        let fid = ForwardId {
            participant: h.participant,
            stream: h.terminal.0,
        };
        let len = data_len(&sealed);
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        let to = s.conn_of(fid.participant);
        let f = match s.forwards.streams.get_mut(&fid) {
            Some(f) if f.http.is_none() && !f.down_fin => f,
            _ => return Err(Refusal::UnknownTerminal),
        };
        // A run's first frame (its start) carries no data for the window.
        f.answered = true;
        if f.down_started {
            f.down += len;
        }
        f.down_started = true;
        f.down_fin |= h.fin;
        if len > FORWARD_CHUNK || f.down > FORWARD_WINDOW {
            self.end_forward(session, fid, ForwardEnd::Limit);
            return Ok(());
        }
        let done = f.up_fin && f.down_fin;
        if let Some(to) = to {
            self.send(to, Frame::Sealed(sealed));
        }
        if done && let Some(s) = self.sessions.get_mut(session) {
            s.forwards.streams.remove(&fid);
        }
        Ok(())
    }

    /// `ForwardCredit`, `ForwardClose` or `ForwardData` from the host.
    pub(super) fn host_forward(&mut self, session: &SessionId, body: Body) {
        let (stream, participant) = match &body {
            Body::ForwardCredit(c) => (c.stream, c.participant),
            Body::ForwardClose(c) => (c.stream, c.participant),
            Body::ForwardData(d) => (d.stream, d.participant),
            _ => return,
        };
        let fid = ForwardId {
            participant: ParticipantId(participant),
            stream,
        };
        let max_response = self.config.max_tunnel_response_bytes;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let member = s.conn_of(fid.participant);
        let Some(f) = s.forwards.streams.get_mut(&fid) else {
            return;
        };
        let to = f.http.or(member);
        match &body {
            Body::ForwardCredit(c) => {
                f.answered = true;
                let Some(left) = f.up.checked_sub(c.bytes as usize) else {
                    return self.end_forward(session, fid, ForwardEnd::Limit);
                };
                f.up = left;
            }
            Body::ForwardClose(c) => {
                let reason = ForwardEnd::try_from(c.reason).unwrap_or(ForwardEnd::Closed);
                let http = f.http;
                s.forwards.streams.remove(&fid);
                if let Some(to) = to {
                    self.send(to, close_frame(fid, reason));
                }
                if let Some(conn) = http {
                    self.close_tunnel_conn(conn);
                }
                return;
            }
            Body::ForwardData(d) => {
                if f.http.is_none() || f.down_fin || d.data.len() > FORWARD_CHUNK {
                    return self.end_forward(session, fid, ForwardEnd::Limit);
                }
                f.answered = true;
                f.down += d.data.len();
                f.down_total += d.data.len() as u64;
                f.down_fin |= d.fin;
                if f.down > FORWARD_WINDOW || f.down_total > max_response {
                    return self.end_forward(session, fid, ForwardEnd::Limit);
                }
            }
            _ => {}
        }
        // An HTTP tunnel carries one request: the response's end is the
        // stream's (the host is told, and forgets it too).
        let http = f.http;
        let done = f.down_fin && (f.up_fin || http.is_some());
        if let Some(to) = to {
            self.send(to, Frame::control(body));
        }
        if done {
            if let Some(s) = self.sessions.get_mut(session) {
                s.forwards.streams.remove(&fid);
            }
            if let Some(conn) = http {
                if let Some(host) = self.sessions.get(session).and_then(|s| s.host_conn()) {
                    self.send(host, close_frame(fid, ForwardEnd::Closed));
                }
                self.close_tunnel_conn(conn);
            }
        }
    }

    /// `ForwardCredit` or `ForwardClose` from participant `id`.
    pub(super) fn participant_forward(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        body: Body,
    ) {
        let (stream, body) = match body {
            Body::ForwardCredit(c) => (
                c.stream,
                Body::ForwardCredit(m::ForwardCredit {
                    participant: id.0,
                    ..c
                }),
            ),
            Body::ForwardClose(c) => (
                c.stream,
                Body::ForwardClose(m::ForwardClose {
                    participant: id.0,
                    ..c
                }),
            ),
            _ => return,
        };
        let fid = ForwardId {
            participant: id,
            stream,
        };
        // A participant speaks for its sealed forwards only; its HTTP
        // tunnel streams are the relay's.
        let sealed = self
            .sessions
            .get(session)
            .and_then(|s| s.forwards.streams.get(&fid))
            .is_some_and(|f| f.http.is_none());
        if sealed {
            self.forward_from_client(session, fid, body);
        }
    }

    /// Frames on an HTTP tunnel connection: the request's bytes, credit
    /// for the response's, or the end.
    pub(super) fn tunnel_frame(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        fid: ForwardId,
        frame: Frame,
    ) {
        let body = match frame {
            Frame::Control(m::Control {
                body:
                    Some(
                        body @ (Body::ForwardData(_)
                        | Body::ForwardCredit(_)
                        | Body::ForwardClose(_)),
                    ),
            }) => body,
            _ => return self.violation(conn),
        };
        let body = match body {
            Body::ForwardData(d) => Body::ForwardData(m::ForwardData {
                stream: fid.stream,
                participant: fid.participant.0,
                ..d
            }),
            Body::ForwardCredit(c) => Body::ForwardCredit(m::ForwardCredit {
                stream: fid.stream,
                participant: fid.participant.0,
                ..c
            }),
            Body::ForwardClose(c) => Body::ForwardClose(m::ForwardClose {
                stream: fid.stream,
                participant: fid.participant.0,
                ..c
            }),
            other => other,
        };
        self.forward_from_client(session, fid, body);
    }

    /// Credit, close or (HTTP tunnels) data from the client end of `fid`,
    /// towards the host.
    fn forward_from_client(&mut self, session: &SessionId, fid: ForwardId, body: Body) {
        let max_request = self.config.max_tunnel_request_bytes;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let host = s.host_conn();
        let Some(f) = s.forwards.streams.get_mut(&fid) else {
            return;
        };
        match &body {
            Body::ForwardCredit(c) => {
                let Some(left) = f.down.checked_sub(c.bytes as usize) else {
                    return self.end_forward(session, fid, ForwardEnd::Limit);
                };
                f.down = left;
            }
            Body::ForwardClose(_) => {
                let http = f.http;
                s.forwards.streams.remove(&fid);
                if let Some(host) = host {
                    self.send(host, Frame::control(body));
                }
                if let Some(conn) = http {
                    self.close_tunnel_conn(conn);
                }
                return;
            }
            Body::ForwardData(d) => {
                if f.up_fin || d.data.len() > FORWARD_CHUNK {
                    return self.end_forward(session, fid, ForwardEnd::Limit);
                }
                f.up += d.data.len();
                f.up_total += d.data.len() as u64;
                f.up_fin |= d.fin;
                if f.up > FORWARD_WINDOW || f.up_total > max_request {
                    return self.end_forward(session, fid, ForwardEnd::Limit);
                }
            }
            _ => return,
        }
        let done = f.up_fin && f.down_fin;
        let http = f.http;
        if let Some(host) = host {
            self.send(host, Frame::control(body));
        }
        if done {
            if let Some(s) = self.sessions.get_mut(session) {
                s.forwards.streams.remove(&fid);
            }
            if let Some(conn) = http {
                self.close_tunnel_conn(conn);
            }
        }
    }

    /// End a forward the relay decided to end: both ends are told.
    pub(super) fn end_forward(&mut self, session: &SessionId, fid: ForwardId, reason: ForwardEnd) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let Some(f) = s.forwards.streams.remove(&fid) else {
            return;
        };
        let (host, member) = (s.host_conn(), s.conn_of(fid.participant));
        if let Some(host) = host {
            self.send(host, close_frame(fid, reason));
        }
        match f.http {
            Some(conn) => {
                self.send(conn, close_frame(fid, reason));
                self.close_tunnel_conn(conn);
            }
            None => {
                if let Some(to) = member {
                    self.send(to, close_frame(fid, reason));
                }
            }
        }
    }

    fn close_tunnel_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Closed;
        }
        self.out.close(conn, false);
    }

    /// A participant left: its forwards end and its credentials lapse.
    pub(super) fn forwards_of_left(&mut self, session: &SessionId, id: ParticipantId) {
        let keys = self
            .sessions
            .get_mut(session)
            .and_then(|s| s.forwards.credentials.remove(&id))
            .unwrap_or_default();
        for key in keys {
            self.credentials.remove(&key);
        }
        let ids: Vec<ForwardId> = self
            .sessions
            .get(session)
            .map(|s| {
                s.forwards
                    .streams
                    .keys()
                    .filter(|f| f.participant == id)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        for fid in ids {
            self.end_forward(session, fid, ForwardEnd::Closed);
        }
    }

    /// The session ends: every credential of it lapses.
    pub(super) fn credentials_of_session(&mut self, session: &SessionId) {
        let keys = self
            .sessions
            .get_mut(session)
            .map(|s| core::mem::take(&mut s.forwards.credentials))
            .unwrap_or_default();
        for key in keys.into_values().flatten() {
            self.credentials.remove(&key);
        }
    }

    /// The host went away (or the session ended): every forward ends.
    pub(super) fn forwards_of_host(&mut self, session: &SessionId, reason: ForwardEnd) {
        let ids: Vec<ForwardId> = self
            .sessions
            .get(session)
            .map(|s| s.forwards.streams.keys().copied().collect())
            .unwrap_or_default();
        for fid in ids {
            self.end_forward(session, fid, reason);
        }
    }

    /// An HTTP tunnel connection went away before its stream ended.
    pub(super) fn tunnel_gone(&mut self, session: &SessionId, fid: ForwardId) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if s.forwards.streams.remove(&fid).is_some()
            && let Some(host) = s.host_conn()
        {
            self.send(host, close_frame(fid, ForwardEnd::Closed));
        }
    }

    /// A forward's timer: the host never answered, or an HTTP tunnel
    /// request outlived its time.
    pub(super) fn forward_timer(&mut self, session: &SessionId, fid: ForwardId, now: Instant) {
        let (answer, max) = (
            self.config.forward_answer_timeout,
            self.config.tunnel_max_duration,
        );
        let Some(f) = self
            .sessions
            .get(session)
            .and_then(|s| s.forwards.streams.get(&fid))
        else {
            return;
        };
        let deadline = if !f.answered {
            f.opened_at + answer
        } else if f.http.is_some() {
            f.opened_at + max
        } else {
            return;
        };
        if deadline <= now {
            self.end_forward(session, fid, ForwardEnd::Timeout);
        } else {
            self.arm(deadline, Timer::Forward(session.clone(), fid));
        }
    }
}

impl RelayForward {
    fn new(http: Option<ConnId>, now: Instant) -> Self {
        RelayForward {
            http,
            up: 0,
            down: 0,
            up_total: 0,
            down_total: 0,
            answered: false,
            up_started: false,
            down_started: false,
            up_fin: false,
            down_fin: false,
            opened_at: now,
        }
    }
}

impl SessionForwards {
    fn count(&self, id: ParticipantId) -> usize {
        self.streams.keys().filter(|f| f.participant == id).count()
    }
}
