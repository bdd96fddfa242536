//! The machine's LAN address, found as py2p finds it: the local address the
//! OS picks for a UDP socket "connected" to a public address. Connecting a
//! UDP socket only looks up a route; nothing is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};

/// Public addresses whose route names the interface (nothing is sent).
const PROBE_V4: (Ipv4Addr, u16) = (Ipv4Addr::new(8, 8, 8, 8), 80);
const PROBE_V6: (Ipv6Addr, u16) = (
    Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888),
    80,
);

/// The address this machine's LAN knows it by, for the IPv4 or the IPv6
/// wildcard: `None` when there is no route out (then loopback is advertised).
pub fn lan_address(v6: bool) -> Option<IpAddr> {
    let (bind, probe): (IpAddr, (IpAddr, u16)) = if v6 {
        (
            Ipv6Addr::UNSPECIFIED.into(),
            (PROBE_V6.0.into(), PROBE_V6.1),
        )
    } else {
        (
            Ipv4Addr::UNSPECIFIED.into(),
            (PROBE_V4.0.into(), PROBE_V4.1),
        )
    };
    let socket = UdpSocket::bind((bind, 0)).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
