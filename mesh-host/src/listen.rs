//! The listening socket, with a backlog sized for connection storms.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel completes and queues for `accept`. The usual 128
/// overflows when many peers dial at once (a hub restarting, a flood), and
/// a dial that finds it full waits a whole SYN retransmission (a second).
pub const LISTEN_BACKLOG: i32 = 1024;

/// A non-blocking listener on the first of `host:port`'s addresses that
/// binds, with [`LISTEN_BACKLOG`] (capped by the system's `somaxconn`) and
/// `SO_REUSEADDR` as std's own listener has it on Unix. Resolving a name
/// blocks: pass an address to avoid that.
///
/// ```
/// let l = mesh_host::listen("127.0.0.1", 0).unwrap();
/// assert_ne!(l.local_addr().unwrap().port(), 0);
/// ```
pub fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match listen_on(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Whether the peer of a freshly accepted socket has sent bytes already
/// (never blocks: the socket is non-blocking). Honest peers send their
/// handshake at once; a flood of silent connections does not.
///
/// ```
/// use std::io::Write;
/// let l = mesh_host::listen("127.0.0.1", 0).unwrap();
/// let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
/// c.write_all(b"hi").unwrap();
/// let (s, _) = l.accept().unwrap();
/// s.set_nonblocking(true).unwrap();
/// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
/// while !mesh_host::has_bytes_waiting(&s) {
///     assert!(std::time::Instant::now() < deadline);
/// }
/// ```
pub fn has_bytes_waiting<'a, S>(socket: &'a S) -> bool
where
    socket2::SockRef<'a>: From<&'a S>,
{
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(socket2::SockRef::from(socket).peek(&mut buf), Ok(n) if n > 0)
}

/// Shuts the write side of a socket shared by reference (a task that writes
/// to a connection it does not own alone).
pub fn shutdown_write<'a, S>(socket: &'a S) -> std::io::Result<()>
where
    socket2::SockRef<'a>: From<&'a S>,
{
    socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write)
}
