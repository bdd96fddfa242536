//! py2p's mesh tutorial with blocking calls: two nodes, a handler that
//! answers `b"test"` with `b"success"`, `on`/`once` callbacks, a broadcast
//! of two packets, a reply, and a whisper.
//! Run: `cargo run -p mesh-blocking --example tutorial`
use std::sync::mpsc;
use std::time::Duration;

use mesh_blocking::{Encryption, EventKind, Handled, MainFlag, MeshSocket, Protocol, SubFlag};
use mesh_blocking::{handler_fn, packets};

const LIMIT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protocol = Protocol::new("mesh", Encryption::Plaintext);
    let alice = MeshSocket::bind("127.0.0.1", 0, protocol.clone(), None)?;
    let bob = MeshSocket::bind("127.0.0.1", 0, protocol, None)?;

    // Runs before the receive queue: answers b"test" on the spot.
    bob.register_handler(handler_fn(|msg, cx| {
        if msg.packets[1] != b"test" {
            return Handled::Pass;
        }
        let _ = cx.send_direct(MainFlag::Whisper, SubFlag::Whisper, packets![b"success"]);
        Handled::Consumed
    }));
    alice.on(EventKind::Message, |_, _| println!("alice: a message"))?;
    let (connected, is_connected) = mpsc::channel();
    bob.once(EventKind::Connected, move |_, _| {
        let _ = connected.send(());
    })?;

    bob.connect("127.0.0.1", alice.local_addr().port())?;
    is_connected.recv_timeout(LIMIT)?;

    bob.send(packets!["hello", "world"])?; // one packet per argument
    let msg = alice.recv_timeout(LIMIT).ok_or("no broadcast")?; // msg.packets[1..]: "hello", "world"
    msg.reply(packets!["hi, bob"])?; // py2p's msg.reply
    let answer = bob.recv_timeout(LIMIT).ok_or("no reply")?;
    println!("bob got {:?}", answer.packets[1]);

    alice.send(packets![b"test"])?; // bob's handler answers it
    let success = alice.recv_timeout(LIMIT).ok_or("no answer")?;
    assert_eq!(success.packets[1], b"success");
    alice.whisper(packets!["direct peers only"])?; // never relayed
    let whisper = bob.recv_timeout(LIMIT).ok_or("no whisper")?;
    println!("bob got {:?}", whisper.packets[1]);
    assert!(bob.recv().is_none(), "consumed by the handler");
    alice.close()?;
    bob.close()?;
    Ok(())
}
