//! Shell-origin binding (SPEC.md section 11.3): each terminal gets a random
//! token that the application puts in that shell's environment; a command
//! run inside the shell presents it, and the host maps it, in constant
//! time, to exactly that terminal.

use core::fmt;
use std::collections::VecDeque;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use taiku_proto::TerminalId;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The environment variable the application sets in each shell.
pub const SHELL_TOKEN_ENV: &str = "TAIKU_SHELL_TOKEN";

/// How many closed terminals' token digests are remembered, to tell a
/// closed terminal's token from an unknown one.
pub const CLOSED_TOKENS_REMEMBERED: usize = 256;

const TOKEN_LEN: usize = 32;

/// One terminal's shell token: 256 random bits, printed as 64 hex digits.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ShellToken([u8; TOKEN_LEN]);

impl fmt::Debug for ShellToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShellToken(..)")
    }
}

impl ShellToken {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; TOKEN_LEN];
        rng.fill_bytes(&mut bytes);
        ShellToken(bytes)
    }

    /// A second handle on the same token, for the host's own table.
    pub(crate) fn duplicate(&self) -> ShellToken {
        ShellToken(self.0)
    }

    /// The value to put in the shell's environment under
    /// [`SHELL_TOKEN_ENV`]. Treat it as a secret.
    pub fn to_env_value(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(TOKEN_LEN * 2));
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Parse a presented token; `None` unless it is exactly 64 lowercase
    /// hex digits.
    pub(crate) fn parse(text: &str) -> Option<Zeroizing<[u8; TOKEN_LEN]>> {
        let bytes = text.as_bytes();
        if bytes.len() != TOKEN_LEN * 2 {
            return None;
        }
        let mut out = Zeroizing::new([0u8; TOKEN_LEN]);
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_value(*pair.first()?)?;
            let lo = hex_value(*pair.get(1)?)?;
            *slot = (hi << 4) | lo;
        }
        Some(out)
    }

    fn digest(bytes: &[u8; TOKEN_LEN]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Why a shell command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The command presented no token: it did not come from a shared shell.
    #[error("no shell token: the command did not run inside a shared shell")]
    NoToken,
    /// The token is not any terminal's.
    #[error("unknown shell token")]
    UnknownToken,
    /// The token belonged to a terminal that has closed.
    #[error("the shell token's terminal has closed")]
    ClosedTerminal,
    /// The command names a terminal other than the one its token binds it to.
    #[error("the command names terminal {named}, but it runs in terminal {bound}")]
    WrongTerminal {
        /// The terminal the token binds the command to.
        bound: TerminalId,
        /// The terminal it named.
        named: TerminalId,
    },
}

/// The token table of a host.
#[derive(Default)]
pub(crate) struct Tokens {
    live: Vec<(TerminalId, ShellToken)>,
    closed: VecDeque<[u8; 32]>,
}

impl Tokens {
    pub(crate) fn insert(&mut self, terminal: TerminalId, token: ShellToken) {
        self.live.push((terminal, token));
    }

    /// The token dies with its terminal.
    pub(crate) fn remove(&mut self, terminal: TerminalId) {
        if let Some(pos) = self.live.iter().position(|(t, _)| *t == terminal) {
            let (_, token) = self.live.swap_remove(pos);
            if self.closed.len() == CLOSED_TOKENS_REMEMBERED {
                self.closed.pop_front();
            }
            self.closed.push_back(ShellToken::digest(&token.0));
        }
    }

    /// Map a presented token to its terminal. Every live token is compared,
    /// in constant time, whatever matches.
    pub(crate) fn bind(
        &self,
        presented: Option<&str>,
        named: Option<TerminalId>,
    ) -> Result<TerminalId, BindError> {
        let presented = presented.ok_or(BindError::NoToken)?;
        let Some(bytes) = ShellToken::parse(presented) else {
            return Err(BindError::UnknownToken);
        };
        let mut found = Choice::from(0);
        let mut id = 0u32;
        for (terminal, token) in &self.live {
            let hit: Choice = token.0.ct_eq(&*bytes);
            id = u32::conditional_select(&id, &terminal.0, hit);
            found |= hit;
        }
        let bound = match bool::from(found) {
            true => TerminalId(id),
            false => {
                let digest = ShellToken::digest(&bytes);
                let closed = self
                    .closed
                    .iter()
                    .fold(Choice::from(0), |acc, d| acc | d.ct_eq(&digest));
                return Err(if bool::from(closed) {
                    BindError::ClosedTerminal
                } else {
                    BindError::UnknownToken
                });
            }
        };
        match named {
            Some(named) if named != bound => Err(BindError::WrongTerminal { bound, named }),
            _ => Ok(bound),
        }
    }
}
