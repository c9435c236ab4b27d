//! Framing of the local command channel (SPEC.md 11.7), between a command
//! run inside a shared shell and its host: each message is a 4-byte
//! big-endian length followed by that many bytes of protobuf
//! ([`ShellRequest`](crate::message::ShellRequest) one way,
//! [`ShellReply`](crate::message::ShellReply) the other). It never
//! reaches the relay.
//!
//! ```
//! use taiku_proto::local;
//! use taiku_proto::limits::MAX_SHELL_REQUEST_BYTES;
//! use taiku_proto::message::{ShellRequest, Who, shell_request::Action};
//!
//! let request = ShellRequest { action: Some(Action::Who(Who {})), ..Default::default() };
//! let bytes = local::encode(&request);
//! let prefix: [u8; local::LENGTH_LEN] = bytes[..4].try_into()?;
//! assert_eq!(local::body_len(prefix, MAX_SHELL_REQUEST_BYTES)?, bytes.len() - 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use prost::Message;

use crate::DecodeError;

/// Length of the prefix of a local message.
pub const LENGTH_LEN: usize = 4;

/// A message with its length prefix.
/// The body is encoded straight after the prefix, into the one buffer
/// returned (a request carries a secret token: no copy is left behind).
pub fn encode<M: Message>(msg: &M) -> Vec<u8> {
    let len = msg.encoded_len();
    // Bodies are bounded far below 4 GiB by the limits of SPEC.md 11.7.
    let prefix = u32::try_from(len).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(LENGTH_LEN + len);
    out.extend_from_slice(&prefix.to_be_bytes());
    msg.encode_raw(&mut out);
    out
}

/// A message from its body (after the prefix).
pub fn decode<M: Message + Default>(body: &[u8]) -> Result<M, DecodeError> {
    Ok(M::decode(body)?)
}

/// The body length a prefix declares, refused above `max`.
pub fn body_len(prefix: [u8; LENGTH_LEN], max: usize) -> Result<usize, DecodeError> {
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > max {
        return Err(DecodeError::FrameTooLong { len, max });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ShellRefusal, ShellReply};

    #[test]
    fn prefix_is_big_endian_and_bounded() {
        let reply = ShellReply {
            refused: ShellRefusal::RateLimited as i32,
            terminal_id: 3,
            ..Default::default()
        };
        assert_eq!(local_bytes(&reply), [0, 0, 0, 4, 0x08, 0x05, 0x10, 0x03]);
        assert_eq!(body_len([0, 0, 0x10, 0], 4096), Ok(4096));
        assert_eq!(
            body_len([0, 0, 0x10, 1], 4096),
            Err(DecodeError::FrameTooLong {
                len: 4097,
                max: 4096
            })
        );
    }

    fn local_bytes(m: &ShellReply) -> Vec<u8> {
        encode(m)
    }
}
