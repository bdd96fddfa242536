//! Compression bombs (6): small frames that inflate past the victim's
//! `max_decompressed`.

use bytes::Bytes;
use mesh_proto::mesh::{Config, RejectReason};
use mesh_proto::wire::{
    Compression, Frame, Limits, MainFlag, SubFlag, Value, WireError, decode_frame,
};

use super::attacker::is_renegotiation;
use super::memory::Memory;
use super::scene::Scene;
use super::util::{bin, fresh_id, nothing_before, tag, unix_now};
use super::{MAX_DECOMPRESSED, PROMPT};
use crate::nodes::Adapter;

// ----- 6. compression bombs --------------------------------------------------

/// For each of zlib, gzip and snappy, an attacker that negotiated that
/// method sends a valid-looking frame (checksum right) of a few KiB that
/// inflates to 4 times the victim's `max_decompressed`: the cap trips, the
/// frame is undecodable (answered, counted, never delivered), and one more
/// than `max_decode_failures` of them close the link
/// (`Rejected { UndecodableFrames }`).
pub fn compression_bombs(adapter: &dyn Adapter) {
    let mut s = Scene::new(adapter, |_| {});
    let mem = Memory::watch();
    let max_failures = Config::new(s.protocol.clone(), s.victim.out_addr()).max_decode_failures;
    for (method, bomb) in bombs() {
        let before = s.victim.counters();
        let mut at = s.join(&[*method]);
        at.send(bomb).expect("write");
        assert!(
            at.wait_frame(PROMPT, is_renegotiation).is_some(),
            "{method:?}: a bomb is answered with py2p's renegotiation"
        );
        for _ in 0..max_failures {
            let _ = at.send(bomb);
        }
        let (_, reason) = s.rejection(at.conn, "repeated bombs");
        assert_eq!(reason, RejectReason::UndecodableFrames, "{method:?}");
        at.assert_closed(PROMPT, "repeated bombs");
        let after = s.victim.counters();
        assert_eq!(
            after.undecodable,
            before.undecodable + u64::from(max_failures) + 1,
            "{method:?}"
        );
        let control = tag("after the bomb");
        s.a.send(vec![bin(&control)]).expect("send");
        nothing_before(
            &*s.victim,
            &control,
            &[BOMB_MARKER],
            "the bomb at the victim",
        );
        nothing_before(&*s.b, &control, &[BOMB_MARKER], "the bomb at b");
        mem.check(&format!("a {method:?} bomb"));
    }
    s.honest_traffic("after the bombs");
    s.assert_routes(&[], "after the bombs");
    mem.check("compression bombs");
    s.close();
}

/// The packet a bomb carries next to its zeros.
const BOMB_MARKER: &[u8] = b"bomb";

/// One bomb per method, made once per process (compressing 4 MiB is slow
/// in a debug build): a broadcast whose checksum is right, holding 4 times
/// the victim's `max_decompressed` of zeros. Its sender need not be the
/// link's peer (relays forward others' frames).
fn bombs() -> &'static [(Compression, Bytes)] {
    static BOMBS: std::sync::OnceLock<Vec<(Compression, Bytes)>> = std::sync::OnceLock::new();
    BOMBS.get_or_init(|| {
        let zeros = vec![0u8; 4 * MAX_DECOMPRESSED];
        [Compression::Zlib, Compression::Gzip, Compression::Snappy]
            .into_iter()
            .map(|method| {
                let packets = vec![
                    Value::from(SubFlag::Broadcast.value()),
                    bin(BOMB_MARKER),
                    bin(&zeros),
                ];
                let bomb = Frame::new(
                    MainFlag::Broadcast.value().into(),
                    fresh_id(),
                    unix_now(),
                    packets,
                )
                .encode(Some(method))
                .expect("compress");
                assert!(
                    bomb.len() < zeros.len() / 8,
                    "{method:?}: a small frame ({} bytes)",
                    bomb.len()
                );
                // A real frame that only the victim's cap stops.
                let roomy = Limits {
                    max_decompressed: 8 * MAX_DECOMPRESSED,
                    ..Limits::default()
                };
                decode_frame(bomb.clone(), &[method], &roomy).expect("a valid frame");
                let victims = Limits {
                    max_decompressed: MAX_DECOMPRESSED,
                    ..Limits::default()
                };
                let e = decode_frame(bomb.clone(), &[method], &victims).expect_err("a bomb");
                assert!(
                    matches!(e, WireError::DecompressedTooLarge { .. }),
                    "{method:?}: {e:?}"
                );
                (method, bomb)
            })
            .collect()
    })
}
