//! Admission (SPEC.md 6.1): challenge, proof, and what an admitted host or
//! participant is sent first.

use std::time::Instant;

use bytes::Bytes;
use rand_core::CryptoRng;
use taiku_crypto::{Challenge, Proof, Verifiers};
use taiku_proto::message::{self as m, ControlReason, EndReason, RefusalReason, control::Body};
use taiku_proto::{Frame, ParticipantId, Role, SessionId, TerminalId};

use super::conn::{ConnState, Intent};
use super::session::{
    HostSeat, Member, Session, control_changed, host_status, opened, presence, session_ended,
};
use super::{ConnId, Event, EvictReason, Relay};
use crate::access::{self, Change};
use crate::bucket::TokenBucket;

/// The outcome of an admission attempt.
enum Admission {
    Accepted,
    Refused(RefusalReason),
}

/// The profile of a request, if it is within its limits.
fn valid_profile(profile: Option<m::Profile>) -> Option<m::Profile> {
    match access::check_profile(profile.as_ref()) {
        Ok(()) => Some(profile.unwrap_or_default()),
        Err(_) => None,
    }
}

impl<R: CryptoRng> Relay<R> {
    pub(super) fn admission_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        let Frame::Control(m::Control { body: Some(body) }) = frame else {
            self.violation(conn);
            return;
        };
        let intent = match body {
            Body::Ping(p) => {
                self.pong(conn, p);
                return;
            }
            Body::Pong(_) => return,
            Body::SessionCreate(req) => (|| {
                let v = req.verifiers.as_ref()?;
                Some(Intent::Create {
                    session: SessionId::new(&req.session_id).ok()?,
                    verifiers: Box::new(
                        Verifiers::from_bytes(&v.reader, &v.writer, &v.admin).ok()?,
                    ),
                    options: req.options.unwrap_or_default(),
                    profile: valid_profile(req.profile)?,
                })
            })(),
            Body::SessionResume(req) => (|| {
                Some(Intent::Resume {
                    session: SessionId::new(&req.session_id).ok()?,
                    profile: valid_profile(req.profile)?,
                })
            })(),
            Body::JoinRequest(req) => (|| {
                Some(Intent::Join {
                    session: SessionId::new(&req.session_id).ok()?,
                    profile: valid_profile(req.profile)?,
                })
            })(),
            Body::JoinProof(proof) => {
                self.proof(conn, proof, now);
                return;
            }
            _ => {
                self.violation(conn);
                return;
            }
        };
        self.challenge(conn, intent, now);
    }

    fn challenge(&mut self, conn: ConnId, intent: Option<Intent>, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.retry_after.is_some_and(|t| now < t) {
            self.admission_failed(conn, RefusalReason::RateLimited, now);
            return;
        }
        let Some(intent) = intent else {
            self.admission_failed(conn, RefusalReason::InvalidRequest, now);
            return;
        };
        let challenge = Challenge::random(&mut self.rng);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Challenged {
                challenge,
                intent: Box::new(intent),
            };
        }
        self.send(
            conn,
            Frame::control(Body::Challenge(m::Challenge {
                nonce: Bytes::copy_from_slice(challenge.as_bytes()),
            })),
        );
    }

    fn admission_failed(&mut self, conn: ConnId, reason: RefusalReason, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.state = ConnState::Fresh;
        c.auth_failures = c.auth_failures.saturating_add(1);
        let factor = 1u32 << (c.auth_failures - 1).min(16);
        c.retry_after = Some(now + self.config.auth_retry_delay.saturating_mul(factor));
        let exhausted = c.auth_failures >= self.config.max_auth_failures;
        let reason = if exhausted {
            RefusalReason::RateLimited
        } else {
            reason
        };
        self.send(
            conn,
            Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Refused(reason as i32)),
            })),
        );
        self.emit(Event::Denied { conn, reason });
        if exhausted {
            self.evict(conn, EvictReason::RateLimited);
        }
    }

    fn proof(&mut self, conn: ConnId, proof: m::JoinProof, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnState::Challenged { challenge, intent } =
            core::mem::replace(&mut c.state, ConnState::Fresh)
        else {
            self.violation(conn);
            return;
        };
        let has_identity = c.identity.is_some();
        let proof = Proof::from_wire(proof.role, &proof.signature).ok();
        let outcome = match *intent {
            Intent::Create {
                session,
                verifiers,
                options,
                profile,
            } => {
                let proven = proof.and_then(|p| verifiers.check(&session, &challenge, &p).ok());
                let new = Session::new(*verifiers, options, conn, profile);
                self.admit_create(conn, session, new, proven, now)
            }
            Intent::Resume { session, profile } => {
                let proven = self.check_proof(&session, &challenge, proof);
                self.admit_resume(conn, session, profile, proven, now)
            }
            Intent::Join { session, profile } => {
                let proven = self.check_proof(&session, &challenge, proof);
                self.admit_join(conn, session, profile, proven, has_identity, now)
            }
        };
        if let Admission::Refused(reason) = outcome {
            self.admission_failed(conn, reason, now);
        }
    }

    /// The role a proof proves for an existing session. For a session
    /// that does not exist the proof is checked against decoy verifiers,
    /// so that both cost the same, and proves nothing.
    fn check_proof(
        &self,
        session: &SessionId,
        challenge: &Challenge,
        proof: Option<Proof>,
    ) -> Option<Role> {
        let proof = proof?;
        match self.sessions.get(session) {
            Some(s) => s.verifiers.check(session, challenge, &proof).ok(),
            None => {
                let _ = self.decoy.check(session, challenge, &proof);
                None
            }
        }
    }

    fn admit_create(
        &mut self,
        conn: ConnId,
        id: SessionId,
        session: Session,
        proven: Option<Role>,
        now: Instant,
    ) -> Admission {
        if proven != Some(Role::Admin) {
            return Admission::Refused(RefusalReason::Denied);
        }
        if self.sessions.contains_key(&id) {
            return Admission::Refused(RefusalReason::SessionExists);
        }
        // A full relay makes room by ending the abandoned session (host
        // gone, nobody ever joined) whose grace ends first: such sessions
        // keep no promise to anyone, so they never keep a real one out.
        if self.sessions.len() >= self.config.max_sessions
            && let Some(abandoned) = self.first_abandoned()
        {
            self.end_session(&abandoned, EndReason::HostGraceExpired);
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Admission::Refused(RefusalReason::RelayFull);
        }
        // One source may hold only so many sessions at once.
        let source = self.conns.get(&conn).and_then(|c| c.source);
        if let Some(source) = source {
            let held = self.created_by.get(&source).copied().unwrap_or(0);
            if held >= self.config.max_sessions_per_source {
                return Admission::Refused(RefusalReason::RateLimited);
            }
            *self.created_by.entry(source).or_insert(0) += 1;
        }
        let options = session.options;
        let mut session = session;
        session.created_by = source;
        self.sessions.insert(id.clone(), session);
        self.become_host(conn, &id, options, now);
        self.emit(Event::SessionCreated {
            session: id.clone(),
        });
        self.emit(Event::Joined {
            session: id,
            participant: ParticipantId::HOST,
            role: Role::Admin,
            conn,
            identity: self.identity(conn).map(str::to_owned),
        });
        Admission::Accepted
    }

    /// The session with no host and no participant ever whose grace ends
    /// first.
    fn first_abandoned(&self) -> Option<SessionId> {
        self.sessions
            .iter()
            .filter_map(|(id, s)| match s.host {
                HostSeat::Away { deadline } if s.next_id == 1 => Some((deadline, id)),
                _ => None,
            })
            .min()
            .map(|(_, id)| id.clone())
    }

    fn become_host(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        options: m::SessionOptions,
        now: Instant,
    ) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.admit(ConnState::Host {
                session: session.clone(),
            });
        }
        self.arm_idle(conn, now);
        self.send(
            conn,
            accepted(ParticipantId::HOST, Role::Admin, options, true),
        );
    }

    fn admit_resume(
        &mut self,
        conn: ConnId,
        session: SessionId,
        profile: m::Profile,
        proven: Option<Role>,
        now: Instant,
    ) -> Admission {
        if proven != Some(Role::Admin) {
            return Admission::Refused(RefusalReason::Denied);
        }
        let Some(s) = self.sessions.get_mut(&session) else {
            return Admission::Refused(RefusalReason::Denied);
        };
        let previous = s.host_conn();
        s.host = HostSeat::Online(conn);
        s.host_profile = profile;
        let options = s.options;
        if let Some(old) = previous {
            // A host whose old connection is not yet known dead takes its
            // seat back; the old connection is closed.
            if let Some(c) = self.conns.get_mut(&old) {
                c.state = ConnState::Closed;
            }
            self.send(old, session_ended(EndReason::Evicted));
            self.out.close(old, false);
            self.emit(Event::Evicted {
                conn: old,
                reason: EvictReason::Replaced,
            });
        }
        self.become_host(conn, &session, options, now);
        self.send_resume_state(conn, &session);
        self.resume_resyncs(&session, now);
        self.send_to_participants(&session, &host_status(true, core::time::Duration::ZERO));
        self.emit(Event::HostResumed {
            session: session.clone(),
        });
        self.emit(Event::Joined {
            session,
            participant: ParticipantId::HOST,
            role: Role::Admin,
            conn,
            identity: self.identity(conn).map(str::to_owned),
        });
        Admission::Accepted
    }

    fn send_resume_state(&mut self, conn: ConnId, session: &SessionId) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let terminals = s
            .terminals
            .iter()
            .map(|(id, t)| {
                let last = t.ring.last();
                m::TerminalState {
                    terminal_id: id.0,
                    owner: t.control.owner.0,
                    controller: t.control.controller.0,
                    rows: t.rows,
                    cols: t.cols,
                    label: t.label.clone(),
                    last_epoch: last.map_or_else(Bytes::new, |(e, _)| Bytes::copy_from_slice(&e.0)),
                    last_seq: last.map_or(0, |(_, s)| s.0),
                    has_output: last.is_some(),
                }
            })
            .collect();
        let presence: Vec<Frame> = s
            .members
            .iter()
            .map(|(id, mem)| presence(*id, mem, m::presence::State::Joined))
            .collect();
        self.send(
            conn,
            Frame::control(Body::ResumeState(m::ResumeState { terminals })),
        );
        for p in presence {
            self.send(conn, p);
        }
    }

    fn admit_join(
        &mut self,
        conn: ConnId,
        session: SessionId,
        profile: m::Profile,
        proven: Option<Role>,
        has_identity: bool,
        now: Instant,
    ) -> Admission {
        let (Some(role), Some(s)) = (proven, self.sessions.get_mut(&session)) else {
            return Admission::Refused(RefusalReason::Denied);
        };
        if role == Role::Reader && !s.options.readers_enabled {
            return Admission::Refused(RefusalReason::Denied);
        }
        if s.options.viewer_sign_in_required && !has_identity {
            return Admission::Refused(RefusalReason::SignInRequired);
        }
        if s.members.len() >= self.config.max_participants {
            return Admission::Refused(RefusalReason::SessionFull);
        }
        let Some(id) = s.take_participant_id() else {
            return Admission::Refused(RefusalReason::SessionFull);
        };
        let member = Member {
            conn,
            role,
            profile,
            chat: TokenBucket::full(self.config.chat_burst, now),
            metadata: TokenBucket::full(self.config.metadata_burst, now),
            requests: TokenBucket::full(self.config.request_burst, now),
            history: TokenBucket::full(self.config.history_burst, now),
            resyncing: Vec::new(),
            resync_sent: None,
        };
        let joined = presence(id, &member, m::presence::State::Joined);
        s.members.insert(id, member);
        let options = s.options;
        let host_online = s.host_conn().is_some();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.admit(ConnState::Participant {
                session: session.clone(),
                id,
            });
        }
        self.arm_idle(conn, now);
        self.send(conn, accepted(id, role, options, host_online));
        self.send_session_state(conn, &session, id, now);
        // Everyone else learns about the joiner.
        let others: Vec<ConnId> = self
            .session_conns(&session, true)
            .into_iter()
            .filter(|c| *c != conn)
            .collect();
        for other in others {
            self.send(other, joined.clone());
        }
        self.emit(Event::Joined {
            session,
            participant: id,
            role,
            conn,
            identity: self.identity(conn).map(str::to_owned),
        });
        Admission::Accepted
    }

    /// Everything a joiner needs: who is here, the host's state, the
    /// terminals and their control, chat history, then each terminal's
    /// replay and latest status.
    fn send_session_state(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        joiner: ParticipantId,
        now: Instant,
    ) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let mut frames = vec![s.host_presence(m::presence::State::Joined)];
        for (id, mem) in &s.members {
            if *id != joiner {
                frames.push(presence(*id, mem, m::presence::State::Joined));
            }
        }
        if let HostSeat::Away { deadline } = s.host {
            frames.push(host_status(false, deadline.saturating_duration_since(now)));
        }
        for (id, t) in &s.terminals {
            frames.push(opened(*id, t));
            if t.control.controller != t.control.owner {
                // Not a change: the controller the terminal has now.
                let change = Change {
                    control: t.control,
                    reason: ControlReason::Opened,
                    requester: ParticipantId::HOST,
                };
                frames.push(control_changed(*id, &change));
            }
        }
        if !s.forwards.ports.is_empty() {
            frames.push(Frame::control(Body::TunnelPorts(m::TunnelPorts {
                ports: s.forwards.ports.clone(),
                http: s.forwards.http.clone(),
            })));
        }
        for (chat, at) in &s.chat {
            let age = now.saturating_duration_since(*at).as_millis();
            frames.push(Frame::control(Body::Chat(m::Chat {
                age_ms: u64::try_from(age).unwrap_or(u64::MAX),
                ..chat.clone()
            })));
        }
        let ids: Vec<TerminalId> = s.terminals.keys().copied().collect();
        for frame in frames {
            self.send(conn, frame);
        }
        for id in ids {
            self.replay(conn, session, id, joiner);
        }
    }
}

/// `JoinResult{Accepted}`.
fn accepted(id: ParticipantId, role: Role, options: m::SessionOptions, host_online: bool) -> Frame {
    Frame::control(Body::JoinResult(m::JoinResult {
        outcome: Some(m::join_result::Outcome::Accepted(m::Accepted {
            participant_id: id.0,
            role: role.to_proto(),
            options: Some(options),
            host_online,
        })),
    }))
}
