//! What a host decides about its session, sent to the relay at creation
//! (SPEC.md 6.1): the session crate's own type, so that a new option is
//! not a breaking change for embedders.

use taiku_proto::message as m;

/// A session's options. The default lets reader links in and asks no
/// viewer to sign in.
///
/// ```
/// use taiku_session::SessionOptions;
///
/// let options = SessionOptions::default().with_viewer_sign_in_required(true);
/// assert!(options.readers_enabled && options.viewer_sign_in_required);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SessionOptions {
    /// Whether reader links are admitted at all.
    pub readers_enabled: bool,
    /// Whether the relay admits a viewer only with an identity from its
    /// transport ([`Relay::attach_identity`](crate::relay::Relay::attach_identity)).
    pub viewer_sign_in_required: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            readers_enabled: true,
            viewer_sign_in_required: false,
        }
    }
}

setters! {
    SessionOptions {
        with_readers_enabled(readers_enabled: bool),
        with_viewer_sign_in_required(viewer_sign_in_required: bool),
    }
}

impl SessionOptions {
    /// The wire message.
    pub fn to_proto(self) -> m::SessionOptions {
        m::SessionOptions {
            readers_enabled: self.readers_enabled,
            viewer_sign_in_required: self.viewer_sign_in_required,
        }
    }

    /// From the wire message.
    pub fn from_proto(options: &m::SessionOptions) -> Self {
        SessionOptions {
            readers_enabled: options.readers_enabled,
            viewer_sign_in_required: options.viewer_sign_in_required,
        }
    }
}
