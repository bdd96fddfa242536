//! What a node advertises and where peers learned from lists are dialed:
//! a wildcard bind advertises the machine's LAN address (as py2p does), and
//! nodes on distinct loopback addresses (127.0.0.2, .3, .4 standing for
//! separate hosts) dial each other at the address each advertised. Nothing
//! here connects to the LAN address: it is only checked.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use common::{proto, wait_routes, within};
use mesh_tokio::{Config, MeshSocket};

/// The machine's own IPv4 addresses, read from the kernel's routing tables
/// (`/proc/net/fib_trie`: an address followed by `/32 host LOCAL`), not
/// from the code under test.
fn local_ipv4() -> BTreeSet<Ipv4Addr> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").expect("Linux's /proc/net/fib_trie");
    let lines: Vec<&str> = trie.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[1].trim() == "/32 host LOCAL")
        .filter_map(|w| w[0].trim().trim_start_matches("|-- ").parse().ok())
        .collect()
}

#[tokio::test]
async fn a_wildcard_bind_advertises_the_lan_address() {
    let sock = MeshSocket::bind("0.0.0.0", 0, proto("lan"), None)
        .await
        .expect("bind");
    let advertised: IpAddr = sock.out_addr().host.parse().expect("an IP address");
    assert_eq!(sock.out_addr().port, sock.local_addr().port());
    let lan: BTreeSet<Ipv4Addr> = local_ipv4()
        .into_iter()
        .filter(|ip| !ip.is_loopback())
        .collect();
    match advertised {
        IpAddr::V4(ip) if !lan.is_empty() => assert!(
            lan.contains(&ip),
            "advertised {ip}, but this machine's addresses are {lan:?}"
        ),
        ip => assert_eq!(
            ip,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "no LAN address here: loopback (machine has {lan:?})"
        ),
    }
    // An explicit host is advertised as bound; an explicit out_addr wins.
    let one = MeshSocket::bind("127.0.0.2", 0, proto("lan"), None)
        .await
        .expect("bind");
    assert_eq!(one.out_addr().host, "127.0.0.2");
    let named = Some(("example.org".to_string(), 7));
    let out = MeshSocket::bind("0.0.0.0", 0, proto("lan"), named)
        .await
        .expect("bind");
    assert_eq!(out.out_addr().host, "example.org");
}

#[tokio::test]
async fn peers_from_lists_are_dialed_at_the_address_they_advertised() {
    // Each node listens on its own loopback address only: reaching one at
    // all means dialing the address it advertised.
    let bind = |host: &'static str| async move {
        MeshSocket::builder(proto("hosts"))
            .config(|c: &mut Config| c.max_outgoing = 4)
            .bind(host, 0)
            .await
            .expect("bind")
    };
    let (a, b, c) = (
        bind("127.0.0.2").await,
        bind("127.0.0.3").await,
        bind("127.0.0.4").await,
    );
    assert_eq!(b.out_addr().host, "127.0.0.3");
    within(b.connect("127.0.0.2", a.local_addr().port()))
        .await
        .expect("b dials a");
    wait_routes(&a, &[b.id()]).await;
    within(c.connect("127.0.0.2", a.local_addr().port()))
        .await
        .expect("c dials a");
    // c learns b from a's peer list and dials it at 127.0.0.3 (b is not
    // listening on 127.0.0.1), or b learns c and dials 127.0.0.4.
    wait_routes(&a, &[b.id(), c.id()]).await;
    wait_routes(&b, &[a.id(), c.id()]).await;
    wait_routes(&c, &[a.id(), b.id()]).await;
}
