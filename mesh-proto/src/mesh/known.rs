//! Addresses of peers we heard of, for healing and for peer lists.
//!
//! Every peer-list entry received is looked up here, so the map is hot: its
//! keys carry the first bytes of the id inline, and its hosts are shared
//! bytes (sliced from the peer list they came in) that a peer list of ours
//! hands out without copying.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::wire::{Utf8Bytes, Value};

use super::{PeerAddr, PeerId};

/// A peer id as a map key, ordered exactly as its bytes: the first 8 bytes,
/// inline as a big-endian integer (zero-padded), settle almost every
/// comparison without following a pointer; equal heads fall back to the bytes.
/// (8 bytes of base58 are 47 bits of hash: ample, and the key stays small.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IdKey {
    head: u64,
    id: PeerId,
}

impl IdKey {
    pub(crate) fn new(id: PeerId) -> IdKey {
        IdKey {
            head: head(&id.0),
            id,
        }
    }

    pub(crate) fn id(&self) -> &PeerId {
        &self.id
    }
}

fn head(id: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id[..n]);
    u64::from_be_bytes(b)
}

/// A remembered address: the host as shared text, so listing it is a
/// reference count, not a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KnownAddr {
    host: Utf8Bytes,
    port: u16,
}

impl KnownAddr {
    /// `host` may be a slice of a received peer list: the id next to it
    /// keeps that frame alive anyway, so sharing it costs no memory.
    pub(crate) fn new(host: Utf8Bytes, port: u16) -> KnownAddr {
        KnownAddr { host, port }
    }

    pub(crate) fn is(&self, host: &str, port: u16) -> bool {
        self.port == port && self.host.as_str() == host
    }

    pub(crate) fn to_addr(&self) -> PeerAddr {
        PeerAddr::new(self.host.as_str(), self.port)
    }

    /// `[host, port]` as py2p writes it.
    pub(crate) fn value(&self) -> Value {
        Value::Array(vec![Value::Str(self.host.clone()), Value::from(self.port)])
    }
}

/// Remembered peers by id (deterministic order, for sampling).
#[derive(Debug, Default)]
pub(crate) struct Known {
    map: BTreeMap<IdKey, KnownAddr>,
}

impl Known {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, key: &IdKey) -> Option<&KnownAddr> {
        self.map.get(key)
    }

    pub(crate) fn insert(&mut self, key: IdKey, addr: KnownAddr) {
        self.map.insert(key, addr);
    }

    pub(crate) fn remove(&mut self, peer: &PeerId) {
        self.map.remove(&IdKey::new(peer.clone()));
    }

    /// The first id at or after `start`, wrapping to the first one.
    pub(crate) fn first_from(&self, start: &[u8]) -> Option<PeerId> {
        self.iter_from(start).next().map(|(p, _)| p.clone())
    }

    /// Every entry, starting at the first id at or after `start` and
    /// wrapping around once (the tail is repeated: callers take a few).
    pub(crate) fn iter_from(
        &self,
        start: &[u8],
    ) -> impl Iterator<Item = (&PeerId, &KnownAddr)> + '_ {
        let start = IdKey::new(PeerId(Bytes::copy_from_slice(start)));
        self.map
            .range((Bound::Included(start), Bound::Unbounded))
            .chain(self.map.iter())
            .map(|(k, a)| (&k.id, a))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PeerId, &KnownAddr)> + '_ {
        self.map.iter().map(|(k, a)| (&k.id, a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_as_their_bytes() {
        let ids: [&[u8]; 9] = [
            b"",
            b"a",
            b"a\0",
            b"a\0\x01",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghi",
            b"abcdefgi",
            b"abcdefghjklmnop",
        ];
        for x in ids {
            for y in ids {
                let (kx, ky) = (
                    IdKey::new(PeerId(Bytes::from_static(x))),
                    IdKey::new(PeerId(Bytes::from_static(y))),
                );
                assert_eq!(kx.cmp(&ky), x.cmp(y), "{x:?} vs {y:?}");
            }
        }
    }
}
