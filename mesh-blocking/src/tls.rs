//! TLS (py2p's `"SSL"`) for blocking sockets: the handshake, run on the
//! accept or dial side before a connection's threads exist, and the
//! connection's [`Halves`] over one shared [`rustls::Connection`].
//!
//! `rustls::StreamOwned` cannot be split between a reader and a writer
//! thread, so the two halves share the rustls state behind a mutex, and no
//! thread ever blocks on the socket while holding it:
//!
//! - the reader blocks in `read` on its own `TcpStream` clone with the lock
//!   free, then locks, feeds the bytes in (`read_tls` from a slice,
//!   `process_new_packets`), takes out the plaintext, and sends whatever
//!   records that queued (alerts, key updates);
//! - the writer locks, encrypts its plaintext (`writer()`), takes the
//!   records out into a buffer, and sends them.
//!
//! Records must reach the socket in the order they were encrypted, so
//! sending takes a second lock, the *wire*, before the TLS lock is let go
//! (always in that order: TLS, then wire). The writer then blocks in the
//! socket write (bounded by the write-stall timeout) holding only the wire,
//! while the reader goes on reading and decrypting: two peers writing
//! heavily to each other cannot deadlock on a full socket buffer.
//!
//! **Encryption without authentication**, as in py2p: see `mesh_host::tls`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown as How, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mesh_host::READ_CHUNK;
use mesh_host::tls::rustls::{
    ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection,
};

use crate::conn::{Halves, Shutdown, Stream};

/// A node's TLS setup: its own self-signed certificate for accepted
/// sockets, and a client configuration that verifies nothing for dialed ones.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl Tls {
    /// Makes the node's certificate.
    pub(crate) fn new() -> io::Result<Tls> {
        Ok(Tls {
            server: mesh_host::tls::server_config()?,
            client: mesh_host::tls::client_config(),
        })
    }

    /// An accepted socket, as a TLS server; the handshake must be over
    /// within `limit`. `prepare` readies the socket afterwards (timeouts).
    pub(crate) fn accept(
        &self,
        tcp: TcpStream,
        limit: Duration,
        prepare: impl FnOnce(&TcpStream) -> io::Result<()>,
    ) -> io::Result<Stream> {
        let conn = ServerConnection::new(Arc::clone(&self.server)).map_err(io::Error::other)?;
        secure(tcp, Connection::Server(conn), limit, prepare)
    }

    /// A dialed socket, as a TLS client; like [`accept`](Self::accept).
    pub(crate) fn connect(
        &self,
        tcp: TcpStream,
        limit: Duration,
        prepare: impl FnOnce(&TcpStream) -> io::Result<()>,
    ) -> io::Result<Stream> {
        let name = mesh_host::tls::server_name();
        let conn =
            ClientConnection::new(Arc::clone(&self.client), name).map_err(io::Error::other)?;
        secure(tcp, Connection::Client(conn), limit, prepare)
    }
}

/// Runs the handshake (within `limit` in all, however the peer trickles its
/// bytes), restores the socket's timeouts, then splits the connection.
fn secure(
    tcp: TcpStream,
    mut tls: Connection,
    limit: Duration,
    prepare: impl FnOnce(&TcpStream) -> io::Result<()>,
) -> io::Result<Stream> {
    let mut io = Bounded {
        tcp: &tcp,
        deadline: Instant::now() + limit,
    };
    while tls.is_handshaking() {
        tls.complete_io(&mut io)?;
    }
    // What the handshake left to send (TLS 1.3 session tickets...).
    while tls.wants_write() {
        tls.write_tls(&mut io)?;
    }
    tcp.set_read_timeout(None)?;
    prepare(&tcp)?;
    tracing::trace!(version = ?tls.protocol_version(), "TLS handshake done");

    // The handshake may have read application data past its end already.
    let mut plain = Vec::new();
    let eof = drain_plaintext(&mut tls, &mut plain)?;
    let shared = Arc::new(Shared {
        tls: Mutex::new(tls),
        wire: Mutex::new(()),
        tcp: tcp.try_clone()?,
    });
    let reader = TlsReader {
        tcp,
        shared: Arc::clone(&shared),
        raw: vec![0; READ_CHUNK],
        plain,
        pos: 0,
        eof,
        records: Vec::new(),
    };
    let writer = TlsWriter {
        shared: Arc::clone(&shared),
        records: Vec::new(),
    };
    Ok(Halves {
        reader: Box::new(reader),
        writer: Box::new(writer),
        socket: shared,
    })
}

/// The socket during a handshake: every read and write fails with
/// `TimedOut` once the deadline has passed.
struct Bounded<'a> {
    tcp: &'a TcpStream,
    deadline: Instant,
}

impl Bounded<'_> {
    /// Time left, as a socket timeout (never zero: that means "none").
    fn left(&self) -> io::Result<Duration> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(timed_out()),
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(ErrorKind::TimedOut, "TLS handshake timed out")
}

/// A socket timeout shows up as `WouldBlock` (or `TimedOut`, by platform).
fn bounded<T>(r: io::Result<T>) -> io::Result<T> {
    match r {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(timed_out())
        }
        r => r,
    }
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        bounded(self.tcp.read(buf))
    }
}

impl Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        bounded(self.tcp.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a connection's two threads share.
struct Shared {
    /// The TLS state. Never held across a blocking socket call of its own:
    /// only while waiting for `wire`.
    tls: Mutex<Connection>,
    /// Held while writing records to the socket, taken before `tls` is let
    /// go, so records go out in the order they were made.
    wire: Mutex<()>,
    /// The socket: written under `wire`, shut down at any time.
    tcp: TcpStream,
}

impl Shared {
    fn tls(&self) -> io::Result<MutexGuard<'_, Connection>> {
        self.tls.lock().map_err(|_| poisoned())
    }

    /// Sends every record `tls` holds (taken out into `records`, a scratch
    /// buffer), releasing the TLS lock once the wire is ours.
    fn send_records(
        &self,
        mut tls: MutexGuard<'_, Connection>,
        records: &mut Vec<u8>,
    ) -> io::Result<()> {
        records.clear();
        while tls.wants_write() {
            tls.write_tls(records)?;
        }
        if records.is_empty() {
            return Ok(());
        }
        let wire = self.wire.lock().map_err(|_| poisoned())?;
        drop(tls);
        let sent = (&self.tcp).write_all(records);
        drop(wire);
        sent
    }
}

fn poisoned() -> io::Error {
    io::Error::other("a thread panicked while holding the TLS state")
}

impl Shutdown for Shared {
    /// Shutting the write side down sends `close_notify` first (its write
    /// bounded by the write-stall timeout); shutting both down (aborting, or
    /// waking the reader) does not touch the TLS state.
    fn shutdown(&self, how: How) -> io::Result<()> {
        if how == How::Write {
            let mut tls = self.tls()?;
            tls.send_close_notify();
            self.send_records(tls, &mut Vec::new())?;
        }
        self.tcp.shutdown(how)
    }
}

/// Moves the plaintext `tls` holds to the end of `plain`; true if the peer
/// has closed the TLS session (`close_notify`) and no more will come.
fn drain_plaintext(tls: &mut Connection, plain: &mut Vec<u8>) -> io::Result<bool> {
    const STEP: usize = 16 * 1024;
    loop {
        let start = plain.len();
        plain.resize(start + STEP, 0);
        let read = tls.reader().read(&mut plain[start..]);
        plain.truncate(start + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// The reading half: raw bytes from its own socket handle, read without the
/// lock, decrypted under it.
struct TlsReader {
    tcp: TcpStream,
    shared: Arc<Shared>,
    /// Raw bytes from the socket.
    raw: Vec<u8>,
    /// Decrypted bytes not yet read, from `pos` on.
    plain: Vec<u8>,
    pos: usize,
    /// The peer closed the TLS session: no more plaintext.
    eof: bool,
    /// Scratch space for records to send.
    records: Vec<u8>,
}

impl TlsReader {
    /// Feeds `n` raw bytes to rustls and takes out the plaintext they make.
    fn decrypt(&mut self, n: usize) -> io::Result<()> {
        let mut tls = self.shared.tls()?;
        let mut rd = &self.raw[..n];
        while !rd.is_empty() && !self.eof {
            if tls.read_tls(&mut rd)? == 0 {
                // After close_notify rustls takes nothing more.
                break;
            }
            if let Err(e) = tls.process_new_packets() {
                // Best effort: tell the peer why (an alert), then fail.
                let _ = self.shared.send_records(tls, &mut self.records);
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            self.eof = drain_plaintext(&mut tls, &mut self.plain)?;
        }
        self.shared.send_records(tls, &mut self.records)
    }
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.plain.len() {
                let n = buf.len().min(self.plain.len() - self.pos);
                buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.eof {
                return Ok(0);
            }
            self.plain.clear();
            self.pos = 0;
            let n = self.tcp.read(&mut self.raw)?;
            if n == 0 {
                // End of the TCP stream without close_notify: the peer is
                // gone all the same (no truncation attack matters to frames
                // that are length-prefixed and hashed).
                tracing::trace!("TCP closed without close_notify");
                self.eof = true;
                return Ok(0);
            }
            self.decrypt(n)?;
        }
    }
}

/// The writing half: encrypts under the lock, writes under the wire lock.
/// The socket's write timeout (the write-stall timeout) bounds each write.
struct TlsWriter {
    shared: Arc<Shared>,
    /// Scratch space for records to send.
    records: Vec<u8>,
}

impl Write for TlsWriter {
    /// The bytes are written once their records are on the socket.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = self.shared.tls()?;
        let n = tls.writer().write(buf)?;
        self.shared.send_records(tls, &mut self.records)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let tls = self.shared.tls()?;
        self.shared.send_records(tls, &mut self.records)
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use mesh_host::tls::rustls::StreamOwned;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

    /// A connected pair of TLS streams over loopback: (client, server).
    fn pair() -> (Stream, Stream) {
        let tls = Tls::new().expect("tls");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = {
            let tls = tls.clone();
            thread::spawn(move || {
                let (tcp, _) = listener.accept().expect("accept");
                tls.accept(tcp, LIMIT, |_| Ok(())).expect("TLS accept")
            })
        };
        let tcp = TcpStream::connect(addr).expect("connect");
        let client = tls.connect(tcp, LIMIT, |_| Ok(())).expect("TLS connect");
        (client, server.join().expect("join"))
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[test]
    fn both_ways_at_once_with_full_socket_buffers_does_not_deadlock() {
        // Each side writes far more than the socket buffers hold before
        // reading anything back: a writer holding the TLS lock while blocked
        // on the socket would stop its own reader, and so the peer's writer.
        const LEN: usize = 16 << 20;
        let (client, server) = pair();
        let sides = [(client, 1u8), (server, 2u8)].map(|(s, seed)| {
            let Halves {
                mut reader,
                mut writer,
                socket,
            } = s;
            let w = thread::spawn(move || {
                writer.write_all(&pattern(LEN, seed)).expect("write");
                writer.flush().expect("flush");
                socket.shutdown(How::Write).expect("shutdown");
            });
            let r = thread::spawn(move || {
                let mut got = Vec::new();
                reader.read_to_end(&mut got).expect("read");
                got
            });
            (w, r, seed)
        });
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for (w, r, seed) in sides {
                w.join().expect("writer");
                let got = r.join().expect("reader");
                // Each reader gets the other side's bytes.
                assert!(got == pattern(LEN, 3 - seed), "the bytes arrive intact");
            }
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("no deadlock: both sides finish");
    }

    #[test]
    fn shutting_the_write_side_sends_close_notify() {
        // A plain rustls stream on the other side: it reports a TCP end
        // without close_notify as an error (`UnexpectedEof`), a clean one as
        // the end of the stream.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = Tls::new().expect("tls");
        let (read, peer_done) = std::sync::mpsc::channel::<()>();
        let dialer = {
            let tls = tls.clone();
            thread::spawn(move || {
                let tcp = TcpStream::connect(addr).expect("connect");
                let Halves {
                    mut writer, socket, ..
                } = tls.connect(tcp, LIMIT, |_| Ok(())).expect("TLS connect");
                writer.write_all(b"last words").expect("write");
                socket.shutdown(How::Write).expect("shutdown");
                // Keep the socket until the peer has read it all.
                let _ = peer_done.recv_timeout(LIMIT);
            })
        };
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(LIMIT)).expect("timeout");
        let conn = ServerConnection::new(Arc::clone(&tls.server)).expect("server");
        let mut stream = StreamOwned::new(conn, tcp);
        let mut got = Vec::new();
        stream
            .read_to_end(&mut got)
            .expect("a clean TLS end (close_notify)");
        assert_eq!(got, b"last words");
        drop(read);
        dialer.join().expect("join");
    }
}
