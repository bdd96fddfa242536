//! The bench's payloads: a sequence number and the publish time, then filler
//! up to the asked size, so every payload is unique and carries its own
//! latency.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};

/// The smallest payload: sequence number and publish time.
pub const MIN_SIZE: usize = 16;

/// Payload `seq` of `size` bytes (at least [`MIN_SIZE`]), stamped at `now`
/// relative to `epoch`.
pub fn make(seq: u64, size: usize, epoch: Instant, now: Instant) -> Bytes {
    let mut b = BytesMut::with_capacity(size.max(MIN_SIZE));
    b.put_u64(seq);
    b.put_u64(now.duration_since(epoch).as_nanos() as u64);
    b.resize(size.max(MIN_SIZE), 0xA5);
    b.freeze()
}

/// The sequence number and publish time (since `epoch`) of a payload.
pub fn read(payload: &[u8]) -> Option<(u64, Duration)> {
    let seq = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
    let ns = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((seq, Duration::from_nanos(ns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back() {
        let epoch = Instant::now();
        let p = make(7, 100, epoch, epoch + Duration::from_micros(5));
        assert_eq!(p.len(), 100);
        assert_eq!(read(&p), Some((7, Duration::from_micros(5))));
        assert_eq!(make(1, 3, epoch, epoch).len(), MIN_SIZE);
        assert_eq!(read(&[0; 15]), None);
    }
}
