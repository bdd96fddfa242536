//! py2p's message flags: the main flag is a frame's `msg_type`, the sub-flag
//! is its first payload packet.

use std::fmt;

/// Why a number is not a known flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} flag {value}")]
pub struct UnknownFlag {
    /// `"main"` or `"sub"`.
    pub kind: &'static str,
    /// The number received.
    pub value: u64,
}

macro_rules! flag_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($(#[$vdoc:meta])* $variant:ident = $value:literal => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value,)*
        }

        impl $name {
            /// Every flag of this kind, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The number on the wire.
            pub fn value(self) -> u8 {
                self as u8
            }

            /// py2p's name for it.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl TryFrom<u64> for $name {
            type Error = UnknownFlag;

            fn try_from(value: u64) -> Result<$name, UnknownFlag> {
                match value {
                    $($value => Ok($name::$variant),)*
                    _ => Err(UnknownFlag { kind: $kind, value }),
                }
            }
        }

        impl TryFrom<u8> for $name {
            type Error = UnknownFlag;

            fn try_from(value: u8) -> Result<$name, UnknownFlag> {
                $name::try_from(u64::from(value))
            }
        }

        impl From<$name> for u8 {
            fn from(f: $name) -> u8 {
                f.value()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

flag_enum!(
    /// A frame's `msg_type`.
    ///
    /// ```
    /// use mesh_proto::wire::MainFlag;
    /// assert_eq!(MainFlag::try_from(2u8), Ok(MainFlag::Whisper));
    /// assert!(MainFlag::try_from(0x31u8).is_err()); // an application type
    /// ```
    MainFlag, "main", {
        /// Flooded to the whole mesh.
        Broadcast = 0x00 => "broadcast",
        /// Connection-level negotiation (compression, resend).
        Renegotiate = 0x01 => "renegotiate",
        /// Sent to direct peers only.
        Whisper = 0x02 => "whisper",
        /// Liveness probe (named by py2p, unused by its mesh).
        Ping = 0x03 => "ping",
        /// Liveness answer (named by py2p, unused by its mesh).
        Pong = 0x04 => "pong",
    }
);

flag_enum!(
    /// A payload's first packet: what the message is about.
    ///
    /// ```
    /// use mesh_proto::wire::SubFlag;
    /// assert_eq!(SubFlag::try_from(5u64).unwrap().name(), "handshake");
    /// ```
    SubFlag, "sub", {
        /// An application broadcast.
        Broadcast = 0x00 => "broadcast",
        /// A compression list (renegotiation).
        Compression = 0x01 => "compression",
        /// An application whisper.
        Whisper = 0x02 => "whisper",
        /// Ping.
        Ping = 0x03 => "ping",
        /// Pong.
        Pong = 0x04 => "pong",
        /// The first message on every connection.
        Handshake = 0x05 => "handshake",
        /// Notify (unused by the mesh).
        Notify = 0x06 => "notify",
        /// A peer list.
        Peers = 0x07 => "peers",
        /// A request (`"*"` for peers, or a route request).
        Request = 0x08 => "request",
        /// Ask the peer to send its last message again.
        Resend = 0x09 => "resend",
        /// A route response.
        Response = 0x0A => "response",
        /// DHT store (unused by the mesh).
        Store = 0x0B => "store",
        /// DHT retrieve (unused by the mesh).
        Retrieve = 0x0C => "retrieve",
        /// DHT retrieved (unused by the mesh).
        Retrieved = 0x0D => "retrieved",
        /// Forward (unused by the mesh).
        Forward = 0x0E => "forward",
        /// New paths (unused by the mesh).
        NewPaths = 0x0F => "new_paths",
        /// Revoke paths (unused by the mesh).
        RevokePaths = 0x10 => "revoke_paths",
        /// Delta (unused by the mesh).
        Delta = 0x11 => "delta",
    }
);

/// Flags 0x00..=0x2F are reserved for the protocol; applications use the rest.
pub const RESERVED_FLAGS: std::ops::RangeInclusive<u8> = 0x00..=0x2F;
