//! What a participant knows of the session (SPEC.md 11.2): the peers,
//! the terminals with their control, typing lock and agent status, and
//! recent chat, kept up to date from the relay's plaintext metadata.

use std::collections::{BTreeMap, VecDeque};

use taiku_proto::message::{self as m, ControlReason, control::Body};
use taiku_proto::{ParticipantId, Role, TerminalId};

use super::ParticipantEvent;
use crate::access;
use crate::agent::AgentStatus;

/// Chat lines kept in the view.
pub const CHAT_KEPT: usize = 200;

/// One participant as this participant sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Display name.
    pub name: String,
    /// Device label.
    pub device_label: String,
    /// Proven role.
    pub role: Role,
    /// The terminal it looks at.
    pub focus: Option<TerminalId>,
    /// Its compact layout.
    pub layout: Vec<Tile>,
}

/// One terminal's place in a participant's compact layout, in abstract
/// grid units (SPEC.md 5, `Tile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Tile {
    /// The terminal.
    pub terminal: TerminalId,
    /// Column of its left edge.
    pub x: u32,
    /// Row of its top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Tile {
    /// `terminal` at (`x`, `y`), `w` × `h`.
    pub fn new(terminal: TerminalId, x: u32, y: u32, w: u32, h: u32) -> Self {
        Tile {
            terminal,
            x,
            y,
            w,
            h,
        }
    }

    /// The wire message.
    pub fn to_proto(self) -> m::Tile {
        m::Tile {
            terminal_id: self.terminal.0,
            x: self.x,
            y: self.y,
            w: self.w,
            h: self.h,
        }
    }

    /// From the wire message.
    pub fn from_proto(tile: &m::Tile) -> Self {
        Tile::new(TerminalId(tile.terminal_id), tile.x, tile.y, tile.w, tile.h)
    }
}

/// One terminal as this participant sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalView {
    /// Owner and controller.
    pub control: access::Control,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Display label.
    pub label: String,
    /// The agent running in it, if any.
    pub agent: Option<AgentStatus>,
    /// Who holds the typing lock.
    pub lock: Option<ParticipantId>,
}

/// A chat line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatLine {
    /// Sender.
    pub from: ParticipantId,
    /// The relay's sequence number.
    pub seq: u64,
    /// Text.
    pub text: String,
    /// How long before it arrived the relay accepted it: 0 for a live
    /// line, its age for one replayed from the history (SPEC.md 7.2).
    pub age_ms: u64,
}

/// Everything a UI shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// This participant's id and role, once joined.
    pub me: Option<(ParticipantId, Role)>,
    /// Whether the host is connected.
    pub host_online: bool,
    /// Everyone present, host (id 0) included.
    pub peers: BTreeMap<ParticipantId, Peer>,
    /// The terminals.
    pub terminals: BTreeMap<TerminalId, TerminalView>,
    /// Recent chat.
    pub chat: VecDeque<ChatLine>,
    /// The ports the host publishes, ascending (SPEC.md 6.8).
    pub tunnels: Vec<u32>,
    /// Those the relay also serves as HTTP tunnels (12.4).
    pub http_tunnels: Vec<u32>,
}

impl View {
    /// Apply one metadata message from the relay; the event to report, if
    /// any. Other messages change nothing.
    pub(super) fn apply(&mut self, body: Body) -> Option<ParticipantEvent> {
        match body {
            Body::Presence(p) => {
                let id = ParticipantId(p.participant_id);
                match m::presence::State::try_from(p.state).ok()? {
                    m::presence::State::Left => {
                        self.peers.remove(&id);
                    }
                    _ => {
                        let profile = p.profile.unwrap_or_default();
                        let role = Role::from_proto(p.role).unwrap_or(Role::Reader);
                        let peer = self.peers.entry(id).or_insert_with(|| Peer {
                            name: String::new(),
                            device_label: String::new(),
                            role,
                            focus: None,
                            layout: Vec::new(),
                        });
                        peer.name = profile.name;
                        peer.device_label = profile.device_label;
                        peer.role = role;
                    }
                }
                Some(ParticipantEvent::Presence(id))
            }
            Body::TerminalOpened(o) => {
                let term = TerminalId(o.terminal_id);
                self.terminals.insert(
                    term,
                    TerminalView {
                        control: access::Control::new(ParticipantId(o.owner)),
                        rows: o.rows,
                        cols: o.cols,
                        label: o.label,
                        agent: None,
                        lock: None,
                    },
                );
                Some(ParticipantEvent::TerminalOpened(term))
            }
            Body::TerminalClosed(c) => {
                let term = TerminalId(c.terminal_id);
                self.terminals.remove(&term);
                Some(ParticipantEvent::TerminalClosed(term))
            }
            Body::TerminalResize(r) => {
                let term = TerminalId(r.terminal_id);
                let t = self.terminals.get_mut(&term)?;
                t.rows = r.rows;
                t.cols = r.cols;
                Some(ParticipantEvent::TerminalResized(term))
            }
            Body::TerminalLabel(l) => {
                let term = TerminalId(l.terminal_id);
                let t = self.terminals.get_mut(&term)?;
                t.label = crate::agent::cut_label(l.label);
                Some(ParticipantEvent::TerminalLabeled(term))
            }
            Body::ControlChanged(c) => {
                let term = TerminalId(c.terminal_id);
                if let Some(t) = self.terminals.get_mut(&term) {
                    t.control = access::Control::from(&c);
                }
                Some(ParticipantEvent::ControlChanged {
                    term,
                    reason: ControlReason::try_from(c.reason).unwrap_or(ControlReason::Unspecified),
                    requester: ParticipantId(c.requester),
                })
            }
            Body::AdoptionRequest(a) => Some(ParticipantEvent::AdoptionRequested {
                term: TerminalId(a.terminal_id),
                requester: ParticipantId(a.requester),
            }),
            Body::FocusLock(l) => {
                let t = self.terminals.get_mut(&TerminalId(l.terminal_id))?;
                t.lock = (l.holder != 0).then_some(ParticipantId(l.holder));
                None
            }
            Body::Focus(f) => {
                let peer = self.peers.get_mut(&ParticipantId(f.participant_id))?;
                peer.focus = (f.terminal_id != 0).then_some(TerminalId(f.terminal_id));
                None
            }
            Body::Layout(l) => {
                let peer = self.peers.get_mut(&ParticipantId(l.participant_id))?;
                peer.layout = l.tiles.iter().map(Tile::from_proto).collect();
                None
            }
            Body::Chat(c) => {
                let line = ChatLine {
                    from: ParticipantId(c.from),
                    seq: c.seq,
                    text: c.text,
                    age_ms: c.age_ms,
                };
                if self.chat.len() == CHAT_KEPT {
                    self.chat.pop_front();
                }
                self.chat.push_back(line.clone());
                Some(ParticipantEvent::Chat(line))
            }
            _ => None,
        }
    }
}

/// Text from other people (names, labels, chat, notices, agent details) as
/// a terminal may show it: control characters, and the format characters
/// that reorder or hide the text around them (bidirectional overrides and
/// isolates, zero-width marks), become `?`. Nothing anyone sends can then
/// move the cursor, retitle the window or disguise what is shown.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_format(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Unicode format characters that change how the text around them is
/// shown (those of general category Cf that terminals honour).
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
    )
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn controls_and_reordering_marks_become_question_marks() {
        assert_eq!(
            super::printable("a\x1b]0;x\x07\u{202e}b\u{200b}\u{9b}c"),
            "a?]0;x??b??c"
        );
    }
}
