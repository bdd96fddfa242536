//! The floor any mesh relay is measured against: a line of plain TCP hops
//! with py2p's framing (a 4-byte big-endian length, then the body) where
//! every hop after the first SHA-256s each frame and keeps a seen-set, as a
//! mesh relay must, and forwards new frames through a buffered writer that
//! flushes whenever its input runs dry.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::payload;
use super::record::{Outcome, Plan, Recorder};

const BUF: usize = 64 * 1024;

/// Runs `plan` through a raw line of `nodes` hops.
pub async fn run(nodes: usize, plan: Plan, progress: bool) -> io::Result<Outcome> {
    let mut listeners = Vec::new();
    for _ in 1..nodes {
        listeners.push(TcpListener::bind("127.0.0.1:0").await?);
    }
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<_>>()?;
    let last = listeners.pop().expect("at least two nodes");
    for (i, l) in listeners.into_iter().enumerate() {
        tokio::spawn(relay(l, addrs[i + 1]));
    }
    let epoch = Instant::now();
    let window = plan.window.map(|w| Arc::new(Semaphore::new(w as usize)));
    let counter = tokio::spawn(count(last, plan, epoch, window.clone(), progress));
    let first = TcpStream::connect(addrs[0]).await?;
    first.set_nodelay(true)?;
    let publisher = tokio::spawn(publish(first, plan, epoch, window));
    let outcome = counter.await.map_err(io::Error::other)??;
    publisher.abort();
    Ok(outcome)
}

async fn publish(
    out: TcpStream,
    plan: Plan,
    epoch: Instant,
    window: Option<Arc<Semaphore>>,
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(BUF, out);
    for seq in 0..plan.count {
        if let Some(win) = &window {
            if let Ok(p) = win.try_acquire() {
                p.forget();
            } else {
                w.flush().await?;
                match win.acquire().await {
                    Ok(p) => p.forget(),
                    Err(_) => break,
                }
            }
        }
        if let Some(at) = plan.due(seq, epoch) {
            w.flush().await?;
            tokio::time::sleep_until(at.into()).await;
        }
        let body = payload::make(seq, plan.size, epoch, Instant::now());
        w.write_u32(body.len() as u32).await?;
        w.write_all(&body).await?;
        if plan.rate.is_some() {
            w.flush().await?;
        }
    }
    w.flush().await
}

/// Reads one frame into `buf`; `false` at end of stream.
async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
    let len = match r.read_u32().await {
        Ok(len) => len as usize,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    };
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    Ok(true)
}

fn digest(frame: &[u8]) -> [u8; 32] {
    Sha256::digest(frame).into()
}

async fn relay(listener: TcpListener, next: SocketAddr) -> io::Result<()> {
    let (inp, _) = listener.accept().await?;
    let out = TcpStream::connect(next).await?;
    inp.set_nodelay(true)?;
    out.set_nodelay(true)?;
    let mut r = BufReader::with_capacity(BUF, inp);
    let mut w = BufWriter::with_capacity(BUF, out);
    let mut seen = HashSet::new();
    let mut frame = Vec::new();
    while read_frame(&mut r, &mut frame).await? {
        if seen.insert(digest(&frame)) {
            w.write_u32(frame.len() as u32).await?;
            w.write_all(&frame).await?;
        }
        if r.buffer().is_empty() {
            w.flush().await?;
        }
    }
    w.flush().await
}

async fn count(
    listener: TcpListener,
    plan: Plan,
    epoch: Instant,
    window: Option<Arc<Semaphore>>,
    progress: bool,
) -> io::Result<Outcome> {
    let (inp, _) = listener.accept().await?;
    inp.set_nodelay(true)?;
    let mut r = BufReader::with_capacity(BUF, inp);
    let mut seen = HashSet::new();
    let mut frame = Vec::new();
    let mut rec = Recorder::new(&plan, epoch, progress);
    rec.start(epoch);
    while rec.delivered < plan.count {
        let stall = rec.stall_at(&plan);
        match tokio::time::timeout_at(stall.into(), read_frame(&mut r, &mut frame)).await {
            Ok(Ok(true)) => {}
            Ok(r) => {
                r?;
                break;
            }
            Err(_) => break,
        }
        if seen.insert(digest(&frame)) {
            let before = rec.delivered;
            rec.take(&frame, Instant::now());
            if let Some(w) = &window {
                w.add_permits((rec.delivered - before) as usize);
            }
        }
    }
    if let Some(w) = &window {
        w.close();
    }
    Ok(rec.finish(epoch))
}
