//! The size of the plaintext metadata a peer sends (SPEC.md 6.4 and 7):
//! names, labels, chat lines and layouts. The relay refuses what is over
//! its limit; the host and the participant check or cut what they send.

use taiku_proto::limits::{MAX_LABEL_BYTES, MAX_NAME_BYTES};
use taiku_proto::message as m;

use super::Refusal;

/// A profile's name is at most `MAX_NAME_BYTES`, its device label at most
/// `MAX_LABEL_BYTES`.
pub fn check_profile(profile: Option<&m::Profile>) -> Result<(), Refusal> {
    match profile {
        Some(p) if p.name.len() > MAX_NAME_BYTES || p.device_label.len() > MAX_LABEL_BYTES => {
            Err(Refusal::TooLong)
        }
        _ => Ok(()),
    }
}

/// A terminal label is at most `MAX_LABEL_BYTES`.
pub fn check_label(label: &str) -> Result<(), Refusal> {
    if label.len() > MAX_LABEL_BYTES {
        Err(Refusal::TooLong)
    } else {
        Ok(())
    }
}

/// A chat line is at most `max_bytes` (the relay's `max_chat_bytes`,
/// `MAX_CHAT_BYTES` by default).
pub fn check_chat(text: &str, max_bytes: usize) -> Result<(), Refusal> {
    if text.len() > max_bytes {
        Err(Refusal::TooLong)
    } else {
        Ok(())
    }
}

/// A layout has at most `max_tiles` tiles (the relay's
/// `max_layout_tiles`).
pub fn check_layout(tiles: &[m::Tile], max_tiles: usize) -> Result<(), Refusal> {
    if tiles.len() > max_tiles {
        Err(Refusal::TooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_inclusive() {
        let profile = |name: usize, label: usize| m::Profile {
            name: "n".repeat(name),
            device_label: "d".repeat(label),
        };
        assert_eq!(check_profile(None), Ok(()));
        assert_eq!(
            check_profile(Some(&profile(MAX_NAME_BYTES, MAX_LABEL_BYTES))),
            Ok(())
        );
        assert_eq!(
            check_profile(Some(&profile(MAX_NAME_BYTES + 1, 0))),
            Err(Refusal::TooLong)
        );
        assert_eq!(
            check_profile(Some(&profile(0, MAX_LABEL_BYTES + 1))),
            Err(Refusal::TooLong)
        );
        assert_eq!(check_label(&"l".repeat(MAX_LABEL_BYTES)), Ok(()));
        assert_eq!(
            check_label(&"l".repeat(MAX_LABEL_BYTES + 1)),
            Err(Refusal::TooLong)
        );
        assert_eq!(check_chat("abc", 3), Ok(()));
        assert_eq!(check_chat("abcd", 3), Err(Refusal::TooLong));
        let tiles = vec![m::Tile::default(); 3];
        assert_eq!(check_layout(&tiles, 3), Ok(()));
        assert_eq!(check_layout(&tiles, 2), Err(Refusal::TooLong));
    }
}
