//! Protocol ids, node ids and message ids, derived exactly as py2p does.

use std::cmp::Ordering;
use std::fmt;

use sha2::{Digest, Sha256, Sha384};

/// The protocol version string py2p 0.7.x mixes into the protocol id.
pub const PROTOCOL_VERSION: &str = "0.7";

/// A message id: the SHA-256 of a frame's body (also its checksum).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub [u8; 32]);

impl MsgId {
    /// The id as lowercase hex.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgId({})", self.to_hex())
    }
}

/// base58 (Bitcoin alphabet) of `bytes` read as one big-endian integer, as
/// py2p's `to_base58(int)`: leading zero bytes do not become leading `1`s
/// (unlike base58 of a byte string), and zero is `"1"`.
///
/// ```
/// use mesh_proto::wire::base58_int;
/// assert_eq!(base58_int(&[0, 0, 1]), "2");
/// assert_eq!(base58_int(&[0x3a]), "21");
/// ```
pub fn base58_int(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    if start == bytes.len() {
        return "1".to_owned();
    }
    bs58::encode(&bytes[start..]).into_string()
}

/// Compares two base58 ids as the integers they spell, as py2p does to settle
/// which of two simultaneous connections survives. Text that is not base58
/// sorts by its bytes after every valid id, so the order stays total.
///
/// ```
/// use std::cmp::Ordering;
/// use mesh_proto::wire::compare_base58_ints;
/// assert_eq!(compare_base58_ints(b"z", b"21"), Ordering::Less); // 57 < 58
/// ```
pub fn compare_base58_ints(a: &[u8], b: &[u8]) -> Ordering {
    fn magnitude(text: &[u8]) -> Option<Vec<u8>> {
        let mut v = bs58::decode(text).into_vec().ok()?;
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        v.drain(..start);
        Some(v)
    }
    match (magnitude(a), magnitude(b)) {
        (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(&y)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The encryption part of a protocol: how the socket is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Encryption {
    /// Plain TCP.
    #[default]
    Plaintext,
    /// TLS (py2p's "SSL").
    Ssl,
}

impl Encryption {
    /// py2p's spelling: `"Plaintext"` or `"SSL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Plaintext => "Plaintext",
            Encryption::Ssl => "SSL",
        }
    }
}

/// A subnet and an encryption: nodes only talk when their protocol ids match.
///
/// ```
/// use mesh_proto::wire::{Encryption, Protocol};
/// let p = Protocol::new("mesh", Encryption::Plaintext);
/// assert_eq!(p.id(), "EpAmyZWv9rZUKmjQgU3FTUD4GrJHvVEXizmghVBc8eGD");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Protocol {
    /// The subnet name.
    pub subnet: String,
    /// The encryption.
    pub encryption: Encryption,
}

impl Protocol {
    /// A protocol from its parts.
    pub fn new(subnet: impl Into<String>, encryption: Encryption) -> Protocol {
        Protocol {
            subnet: subnet.into(),
            encryption,
        }
    }

    /// base58-int of SHA-256(subnet ++ encryption ++ "0.7").
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(self.subnet.as_bytes())
            .chain_update(self.encryption.as_str().as_bytes())
            .chain_update(PROTOCOL_VERSION.as_bytes())
            .finalize();
        base58_int(&digest)
    }
}

/// Python's `repr((host, port))`, the address text py2p hashes into a node id.
///
/// ```
/// assert_eq!(mesh_proto::wire::python_addr_repr("127.0.0.1", 4444), "('127.0.0.1', 4444)");
/// ```
pub fn python_addr_repr(host: &str, port: u16) -> String {
    // Python quotes with ' unless the text holds a ' and no ".
    if host.contains('\'') && !host.contains('"') {
        format!("(\"{host}\", {port})")
    } else {
        format!(
            "('{}', {port})",
            host.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
}

/// A node id as py2p derives it: base58-int of
/// SHA-384(repr(out_addr) ++ protocol_id ++ salt), salt a random UUID text
/// per process (passed in: the core has no randomness of its own).
///
/// ```
/// use mesh_proto::wire::{node_id, python_addr_repr};
/// let id = node_id(
///     &python_addr_repr("127.0.0.1", 4444),
///     "EpAmyZWv9rZUKmjQgU3FTUD4GrJHvVEXizmghVBc8eGD",
///     "00000000-0000-0000-0000-000000000000",
/// );
/// assert_eq!(id, "7jfkEgYWhKcHXNxbJ5XorNy1tcF97QcW579QpEBYPfB4c3Jo3xaG1DgGAvkEU5xr7z");
/// ```
pub fn node_id(out_addr_repr: &str, protocol_id: &str, salt: &str) -> String {
    let digest = Sha384::new()
        .chain_update(out_addr_repr.as_bytes())
        .chain_update(protocol_id.as_bytes())
        .chain_update(salt.as_bytes())
        .finalize();
    base58_int(&digest)
}
