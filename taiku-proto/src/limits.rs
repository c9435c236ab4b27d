//! Every numeric limit of the wire format, each cited in SPEC.md section 7.

/// The protocol version this crate speaks, first byte of every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// Default maximum body length of one frame (bytes after the length field).
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// The largest value the length varint can carry ([`MAX_VARINT_LEN`] bytes
/// of 7 bits); no configuration may exceed it.
pub const MAX_FRAME_LEN_LIMIT: usize = (1 << (7 * MAX_VARINT_LEN)) - 1;

/// The longest a length varint may be, in bytes.
pub const MAX_VARINT_LEN: usize = 4;

/// The longest a frame prefix (version, type, length) can be.
pub const MAX_PREFIX_LEN: usize = 2 + MAX_VARINT_LEN;

/// Length of the routing fields of a sealed frame, after the prefix.
pub const ROUTING_LEN: usize = 4 + 1 + 1 + 4 + 16 + 8;

/// Length of the ChaCha20-Poly1305 tag closing every sealed frame.
pub const TAG_LEN: usize = 16;

/// Smallest body of a sealed frame: routing fields and an empty ciphertext.
pub const MIN_SEALED_BODY_LEN: usize = ROUTING_LEN + TAG_LEN;

/// Longest display name in a [`Profile`](crate::message::Profile), in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Longest device, category, terminal or agent label, in bytes.
pub const MAX_LABEL_BYTES: usize = 64;

/// Most rows of a terminal a host applies and announces; larger requests
/// are cut to it.
pub const MAX_TERMINAL_ROWS: u32 = 1000;

/// Most columns of a terminal a host applies and announces.
pub const MAX_TERMINAL_COLS: u32 = 1000;

/// Rows of a terminal whose size was not given (0).
pub const DEFAULT_TERMINAL_ROWS: u32 = 24;

/// Columns of a terminal whose size was not given (0).
pub const DEFAULT_TERMINAL_COLS: u32 = 80;

/// A requested terminal size as a host applies it: 0 means the default,
/// anything over the maximum is cut to it.
pub fn terminal_size(rows: u32, cols: u32) -> (u32, u32) {
    let fit = |n: u32, default: u32, max: u32| if n == 0 { default } else { n.min(max) };
    (
        fit(rows, DEFAULT_TERMINAL_ROWS, MAX_TERMINAL_ROWS),
        fit(cols, DEFAULT_TERMINAL_COLS, MAX_TERMINAL_COLS),
    )
}

/// Longest chat message, in bytes.
pub const MAX_CHAT_BYTES: usize = 2048;

/// Length of a relay challenge nonce.
pub const CHALLENGE_LEN: usize = 32;

/// Length of an Ed25519 verifier public key.
pub const VERIFIER_LEN: usize = 32;

/// Length of an Ed25519 join signature.
pub const SIGNATURE_LEN: usize = 64;

/// Shortest session id, in characters.
pub const MIN_SESSION_ID_LEN: usize = 8;

/// Longest session id, in characters.
pub const MAX_SESSION_ID_LEN: usize = 64;

/// Longest notice text (`Notice.text`, SPEC.md 11.4), in bytes; longer
/// texts are cut at a character boundary.
pub const MAX_NOTICE_BYTES: usize = 512;

/// Largest `ShellRequest` body on the local command channel (SPEC.md
/// 11.7), in bytes.
pub const MAX_SHELL_REQUEST_BYTES: usize = 4096;

/// Largest `ShellReply` body on the local command channel, in bytes: room
/// for a `who` of the host's largest participant table.
pub const MAX_SHELL_REPLY_BYTES: usize = 256 * 1024;

/// Most data bytes in one forward frame (sealed `ForwardUp`/`ForwardDown`
/// plaintext, or `ForwardData.data`), SPEC.md 6.8.
pub const FORWARD_CHUNK: usize = 64 * 1024;

/// Data bytes of one forward stream, per direction, that may be sent and
/// not yet credited back (`ForwardCredit`), SPEC.md 6.8.
pub const FORWARD_WINDOW: usize = 256 * 1024;

/// Most ports a host publishes at once (`TunnelPorts.ports`).
pub const MAX_TUNNEL_PORTS: usize = 32;

/// Forward stream ids a participant picks are below this; the relay's own
/// (HTTP tunnel) streams are at or above it.
pub const RELAY_STREAM_BASE: u32 = 1 << 31;
