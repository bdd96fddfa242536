//! Volume: a flood of silent connections (10) and a broadcast sent many
//! times over (12).

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use mesh_proto::mesh::{Config, PeerId};

use super::memory::{Memory, open_fds};
use super::scene::{Scene, link};
use super::util::{bin, count_before, expect_payload, tag, unix_now, wait_until};
use super::{HANDSHAKE_TIMEOUT, LIMIT, SLACK};
use crate::nodes::Adapter;

// ----- 10. connection flood --------------------------------------------------

/// `n` connections that never handshake, at most 200 open at once, against
/// a victim allowing 16 pending handshakes. What happens to each: the core
/// refuses it at once (`Rejected { TooManyPendingHandshakes }`), or holds
/// it until the handshake timeout (`Rejected { HandshakeTimeout }`), or the
/// runtime parks it (mesh-host's `Parked`: at most `max_inbound`, no
/// buffer, no event) until a place frees or the handshake timeout drops
/// it. So every one is closed by the victim within two handshake timeouts,
/// and at most 16 + `max_inbound` are held per timeout. Meanwhile the
/// victim dials an honest node c; afterwards an honest node d dials the
/// victim; both get traffic; the process's descriptors come back.
pub fn connection_flood(adapter: &dyn Adapter, n: usize) {
    const PENDING: usize = 16;
    const OPEN_AT_ONCE: usize = 200;
    let mut s = Scene::new(adapter, |c| c.max_pending_handshakes = PENDING);
    let max_inbound = Config::new(s.protocol.clone(), s.victim.out_addr()).max_inbound;
    let c_idx = s.extra_node(adapter);
    let d_idx = s.extra_node(adapter);
    let mem = Memory::watch();
    let fds = open_fds();
    let before = s.victim.counters();
    let port = s.victim.port();
    // Parked for up to one handshake timeout, then held by the core for
    // another: no connection may outlive this.
    let longest = 2 * HANDSHAKE_TIMEOUT + SLACK;

    let started = Instant::now();
    let (victim, c) = (&*s.victim, s.extra(c_idx));
    let lifetimes = thread::scope(|scope| {
        let mut dial_c = None;
        let mut open: Vec<(TcpStream, Instant)> = Vec::with_capacity(OPEN_AT_ONCE);
        let mut lifetimes: Vec<Duration> = Vec::with_capacity(n);
        let mut opened = 0usize;
        let mut buf = [0u8; 4096];
        while lifetimes.len() < n {
            let mut progress = false;
            while opened < n && open.len() < OPEN_AT_ONCE {
                let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                stream.set_nonblocking(true).expect("nonblocking");
                open.push((stream, Instant::now()));
                opened += 1;
                progress = true;
            }
            if dial_c.is_none() && opened >= n / 2 {
                // Mid-flood, the victim dials out: nothing stops it.
                dial_c = Some(scope.spawn(|| link(victim, c)));
            }
            open.retain_mut(|(stream, since)| {
                let gone = loop {
                    match stream.read(&mut buf) {
                        Ok(0) => break true,
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break true,
                    }
                };
                let lived = since.elapsed();
                if gone {
                    lifetimes.push(lived);
                    progress = true;
                } else {
                    assert!(
                        lived < longest,
                        "a silent connection left open for {lived:?}"
                    );
                }
                !gone
            });
            if !progress {
                thread::sleep(Duration::from_millis(2));
            }
        }
        let dial_c = dial_c.expect("the victim dialed c mid-flood");
        dial_c.join().expect("the victim links with c mid-flood");
        lifetimes
    });
    let flood_took = started.elapsed();
    let slowest = lifetimes.iter().max().copied().unwrap_or_default();
    assert!(slowest < longest, "a connection lived {slowest:?}");

    // Refused at once, or held to a timeout: never more at a time than
    // the pending places and the parking.
    let after = s.victim.counters();
    let refused = after.rejected.over_capacity - before.rejected.over_capacity;
    let timed_out = after.rejected.handshake_timeout - before.rejected.handshake_timeout;
    let held = lifetimes
        .iter()
        .filter(|l| **l >= HANDSHAKE_TIMEOUT / 2)
        .count();
    let rounds = flood_took.as_secs_f64() / HANDSHAKE_TIMEOUT.as_secs_f64() + 2.0;
    let capacity = (PENDING + max_inbound) as f64 * rounds;
    eprintln!(
        "{n} silent connections in {flood_took:?}: {refused} refused, {timed_out} timed out \
         in the core, {held} held ~a timeout, slowest {slowest:?}"
    );
    assert!(
        refused + timed_out <= n as u64,
        "more rejections ({refused} + {timed_out}) than connections ({n})"
    );
    assert!(
        held as f64 <= capacity,
        "{held} connections held to a timeout in {flood_took:?}: more than {PENDING} pending \
         + {max_inbound} parked at a time"
    );
    if n > 2 * (PENDING + max_inbound) {
        assert!(refused > 0, "the pending-handshake cap refused some");
    }

    // The places are free again: d gets in, and everyone gets traffic.
    link(s.extra(d_idx), &*s.victim);
    let marker = tag("after the flood");
    s.a.send(vec![bin(&marker)]).expect("send");
    for (name, node) in [("b", &*s.b), ("c", s.extra(c_idx)), ("d", s.extra(d_idx))] {
        expect_payload(node, &marker, &format!("a's broadcast at {name}"));
    }
    s.honest_traffic("after the flood");
    let (cid, did) = (s.extra(c_idx).id(), s.extra(d_idx).id());
    s.assert_routes(&[&cid, &did], "after the flood");
    wait_until("the victim's descriptors come back", LIMIT, || {
        open_fds() <= fds + 8
    });
    mem.check("a connection flood");
    s.close();
}

// ----- 12. duplicates --------------------------------------------------------

/// `copies` copies of one broadcast, written as fast as the socket takes
/// them in big writes: delivered once at the victim, a and b, relayed once
/// to each; every other copy counted as a duplicate; memory flat.
pub fn duplicates(adapter: &dyn Adapter, copies: usize) {
    let mut s = Scene::new(adapter, |_| {});
    let before = s.victim.counters();
    let mut at = s.join(&[]);
    let payload = tag("duplicated");
    let (frame, _) = at.broadcast(unix_now(), vec![bin(&payload)]);
    const PER_WRITE: usize = 4096;
    let chunk: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * PER_WRITE)
        .collect();
    let mem = Memory::watch();
    let started = Instant::now();
    let mut left = copies;
    while left > 0 {
        let k = left.min(PER_WRITE);
        at.send(&chunk[..k * frame.len()]).expect("write");
        left -= k;
    }
    let victim = &*s.victim;
    let want = before.duplicates + copies as u64 - 1;
    wait_until("every copy seen", Duration::from_secs(60), || {
        victim.counters().duplicates >= want
    });
    let took = started.elapsed();
    mem.check(&format!("{copies} duplicates"));

    let after = s.victim.counters();
    assert_eq!(after.duplicates, want, "every other copy is a duplicate");
    assert_eq!(after.delivered, before.delivered + 1, "delivered once");
    let relayed = after.relayed - before.relayed;
    assert!(
        (1..=2).contains(&relayed),
        "relayed once to each of a and b, not per copy: {relayed}"
    );
    // A fresh broadcast on the same path: every copy that got through
    // would be delivered before it.
    let marker = tag("after the duplicates");
    let (f, _) = at.broadcast(unix_now(), vec![bin(&marker)]);
    at.send(&f).expect("write");
    for (name, node) in [("the victim", &*s.victim), ("a", &*s.a), ("b", &*s.b)] {
        let n = count_before(node, &payload, &marker, name);
        assert_eq!(n, 1, "{name} got it {n} times");
    }
    let aid = PeerId::from(at.id.as_str());
    s.assert_routes(&[&aid], "duplicates are no offence");
    eprintln!(
        "{copies} duplicates ({} MiB) handled in {took:?}",
        (copies * frame.len()) >> 20
    );

    s.honest_traffic("after the duplicates");
    mem.check("duplicates");
    s.close();
}
