//! Sealed streams (SPEC.md section 4.5): ChaCha20-Poly1305 with a per-stream
//! key, the sequence number as nonce and the exact frame header as
//! associated data.

use core::fmt;

use bytes::{Bytes, BytesMut};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use taiku_proto::limits::{DEFAULT_MAX_FRAME_LEN, TAG_LEN};
use taiku_proto::{
    Direction, Epoch, ParticipantId, SealedFrame, SealedHeader, Seq, SessionId, TerminalId,
};
use zeroize::Zeroize;

use crate::error::{OpenError, SealError};
use crate::schedule::stream_key;
use crate::secret::Key32;

/// The largest sequence number a data frame may carry. The one above it is
/// left for the end-of-stream frame, so a stream can always be closed.
pub const MAX_DATA_SEQ: u64 = u64::MAX - 1;

/// The 96-bit nonce of frame `seq`: four zero bytes, then `seq` big-endian.
pub(crate) fn nonce(seq: Seq) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.0.to_be_bytes());
    Nonce::from(n)
}

/// Encrypt `buf` in place and return the tag: the one AEAD seal path.
pub(crate) fn aead_seal(
    key: &[u8; 32],
    nonce: &Nonce,
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; TAG_LEN] {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    match cipher.encrypt_inout_detached(nonce, aad, buf.into()) {
        Ok(tag) => tag.into(),
        // Only returned for messages over 256 GiB, far beyond any frame.
        Err(_) => unreachable!("ChaCha20-Poly1305 input limit"),
    }
}

/// Decrypt `buf` in place if `tag` verifies: the one AEAD open path. On
/// failure `buf` is left as ciphertext... and should be discarded.
pub(crate) fn aead_open(
    key: &[u8; 32],
    nonce: &Nonce,
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), OpenError> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt_inout_detached(nonce, aad, buf.into(), &Tag::from(*tag))
        .map_err(|_| OpenError::Forged)
}

/// Seals one run of one stream: a terminal, a direction, a sender and a
/// random epoch. Sequence numbers count up from 0 and never wrap.
pub struct StreamSealer {
    key: Key32,
    header: SealedHeader,
    finished: bool,
    max_frame_len: usize,
}

impl fmt::Debug for StreamSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSealer")
            .field("terminal", &self.header.terminal)
            .field("direction", &self.header.direction)
            .field("next_seq", &self.header.seq)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl StreamSealer {
    pub(crate) fn new(
        key: &Key32,
        terminal: TerminalId,
        direction: Direction,
        participant: ParticipantId,
        epoch: Epoch,
    ) -> Self {
        StreamSealer {
            key: Key32(key.0),
            header: SealedHeader {
                terminal,
                direction,
                fin: false,
                participant,
                epoch,
                seq: Seq(0),
            },
            finished: false,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// Use a maximum frame body length other than the default (it must
    /// match the peers' decoders).
    pub fn with_max_frame_len(mut self, max_frame_len: usize) -> Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// The epoch of this run.
    pub fn epoch(&self) -> Epoch {
        self.header.epoch
    }

    /// The sequence number the next frame will carry.
    pub fn next_seq(&self) -> Seq {
        self.header.seq
    }

    /// The largest plaintext one frame can carry under this sealer's
    /// maximum frame length.
    pub fn max_plaintext_len(&self) -> usize {
        self.max_frame_len
            .saturating_sub(taiku_proto::limits::MIN_SEALED_BODY_LEN)
    }

    /// Seal `plaintext` as the next frame of the stream.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<SealedFrame, SealError> {
        if self.finished {
            return Err(SealError::Finished);
        }
        if self.header.seq.0 > MAX_DATA_SEQ {
            return Err(SealError::SequenceExhausted);
        }
        let frame = self.seal_frame(plaintext, false)?;
        self.header.seq.0 += 1;
        Ok(frame)
    }

    /// End the stream with an authenticated end-of-stream frame, so that a
    /// receiver can tell a finished stream from a truncated one.
    pub fn finish(&mut self) -> Result<SealedFrame, SealError> {
        if self.finished {
            return Err(SealError::Finished);
        }
        let frame = self.seal_frame(&[], true)?;
        self.finished = true;
        Ok(frame)
    }

    fn seal_frame(&self, plaintext: &[u8], fin: bool) -> Result<SealedFrame, SealError> {
        let header = SealedHeader { fin, ..self.header };
        let encoded = header.encode(plaintext.len() + TAG_LEN, self.max_frame_len)?;
        let aad = encoded.as_bytes();
        let mut raw = BytesMut::with_capacity(aad.len() + plaintext.len() + TAG_LEN);
        raw.extend_from_slice(aad);
        raw.extend_from_slice(plaintext);
        let tag = aead_seal(&self.key.0, &nonce(header.seq), aad, &mut raw[aad.len()..]);
        raw.extend_from_slice(&tag);
        // The bytes were built from a valid header, so this only re-reads it.
        SealedFrame::from_bytes(raw.freeze(), self.max_frame_len).map_err(|_| {
            SealError::TooLong(taiku_proto::EncodeError::FrameTooLong {
                len: plaintext.len(),
                max: self.max_frame_len,
            })
        })
    }

    #[cfg(test)]
    pub(crate) fn set_next_seq_for_test(&mut self, seq: u64) {
        self.header.seq = Seq(seq);
    }
}

/// Where a receiver may begin reading a stream (SPEC.md section 4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The first accepted frame must be frame 0 of its epoch: the receiver
    /// sees the whole run or nothing. The host opens input this way.
    FromStart,
    /// The first accepted frame may have any sequence number (a late joiner
    /// starting at the oldest frame the relay still holds); from there on
    /// the stream is strictly sequential.
    Anywhere,
}

/// What a valid frame held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The plaintext of a data frame.
    Data(Bytes),
    /// The authenticated end of the stream.
    End,
}

/// Opens one run of one stream, in order, exactly once each.
pub struct StreamOpener {
    terminal: TerminalId,
    direction: Direction,
    start: Start,
    participant: Option<ParticipantId>,
    session: SessionId,
    /// The direction's root; the stream key is derived from it when the
    /// first frame names the epoch.
    root: Key32,
    /// The epoch this opener locked to, and its stream key.
    schedule_key: Option<(Epoch, Key32)>,
    next: Option<Seq>,
    finished: bool,
}

impl fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOpener")
            .field("terminal", &self.terminal)
            .field("direction", &self.direction)
            .field("next", &self.next)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl StreamOpener {
    pub(crate) fn new(
        session: SessionId,
        root: Key32,
        terminal: TerminalId,
        direction: Direction,
        start: Start,
    ) -> Self {
        StreamOpener {
            terminal,
            direction,
            start,
            participant: None,
            session,
            root,
            schedule_key: None,
            next: None,
            finished: false,
        }
    }

    /// Accept only frames whose participant field is `participant` (the
    /// sender of an input stream, as routed by the relay).
    pub fn expect_participant(mut self, participant: ParticipantId) -> Self {
        self.participant = Some(participant);
        self
    }

    /// The epoch this opener is locked to, once it accepted a frame.
    pub fn epoch(&self) -> Option<Epoch> {
        self.schedule_key.as_ref().map(|(e, _)| *e)
    }

    /// The sequence number the next frame must carry, once known.
    pub fn next_seq(&self) -> Option<Seq> {
        self.next
    }

    /// Whether the authenticated end of the stream was seen.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Check and decrypt the next frame of the stream.
    pub fn open(&mut self, frame: &SealedFrame) -> Result<Opened, OpenError> {
        let header = frame.header();
        if header.terminal != self.terminal {
            return Err(OpenError::WrongTerminal {
                expected: self.terminal,
                got: header.terminal,
            });
        }
        if header.direction != self.direction {
            return Err(OpenError::WrongDirection {
                expected: self.direction,
                got: header.direction,
            });
        }
        if self.participant.is_some_and(|p| p != header.participant) {
            return Err(OpenError::WrongParticipant);
        }
        if let Some((epoch, _)) = &self.schedule_key
            && *epoch != header.epoch
        {
            return Err(OpenError::WrongEpoch {
                expected: *epoch,
                got: header.epoch,
            });
        }
        if self.finished {
            return Err(OpenError::AfterEnd);
        }
        if !header.fin && header.seq.0 > MAX_DATA_SEQ {
            return Err(OpenError::ReservedSeq(header.seq));
        }
        match self.next {
            Some(next) if header.seq == next => {}
            Some(next) if next.0 > 0 && header.seq.0 == next.0 - 1 => {
                return Err(OpenError::Replayed(header.seq));
            }
            Some(next) if header.seq < next => {
                return Err(OpenError::Reordered {
                    expected: next,
                    got: header.seq,
                });
            }
            Some(next) => {
                return Err(OpenError::Gap {
                    expected: next,
                    got: header.seq,
                });
            }
            None if self.start == Start::FromStart && header.seq.0 != 0 => {
                return Err(OpenError::NotAtStart(header.seq));
            }
            None => {}
        }

        let fresh_key;
        let key = match &self.schedule_key {
            Some((_, key)) => key,
            None => {
                fresh_key = stream_key(
                    &self.root,
                    &self.session,
                    self.terminal,
                    self.direction,
                    &header.epoch,
                );
                &fresh_key
            }
        };

        let ciphertext = frame.ciphertext();
        let split = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(OpenError::Forged)?;
        let (body, tag) = ciphertext.split_at(split);
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| OpenError::Forged)?;
        let mut plaintext = body.to_vec();
        if let Err(e) = aead_open(&key.0, &nonce(header.seq), frame.aad(), &mut plaintext, tag) {
            plaintext.zeroize();
            return Err(e);
        }

        // Only a frame that authenticated may change the state.
        if self.schedule_key.is_none() {
            self.schedule_key = Some((header.epoch, Key32(key.0)));
        }
        if header.fin {
            self.finished = true;
            self.next = Some(header.seq);
            return Ok(Opened::End);
        }
        self.next = Some(Seq(header.seq.0.saturating_add(1)));
        Ok(Opened::Data(Bytes::from(plaintext)))
    }
}
