//! Two nodes on loopback say hello to each other, then close.
//!
//! ```sh
//! cargo run -p mesh-blocking --example chat_pair
//! ```

use std::time::Duration;

use mesh_blocking::{Encryption, EventKind, MeshSocket, Protocol, Value};

const LIMIT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protocol = Protocol::new("chat", Encryption::Plaintext);
    let alice = MeshSocket::bind("127.0.0.1", 0, protocol.clone(), None)?;
    let bob = MeshSocket::bind("127.0.0.1", 0, protocol, None)?;
    println!("alice {} listens on {}", alice.id(), alice.local_addr());
    println!("bob   {} listens on {}", bob.id(), bob.local_addr());

    // py2p style: alice answers every message from a callback thread.
    alice.on(EventKind::Message, |sock, _event| {
        while let Some(msg) = sock.recv() {
            println!("alice got {:?} from {}", msg.packets[1], msg.sender);
            let _ = sock.reply(&msg, vec![Value::from("hi bob")]);
        }
    })?;

    let (tx, connected) = std::sync::mpsc::channel();
    bob.once(EventKind::PeerUp, move |_sock, _event| {
        let _ = tx.send(());
    })?;
    bob.connect("127.0.0.1", alice.local_addr().port())?;
    connected.recv_timeout(LIMIT)?;

    bob.send(vec![Value::from("hello, alice")])?;
    let answer = bob.recv_timeout(LIMIT).ok_or("no answer in time")?;
    println!("bob got {:?} from {}", answer.packets[1], answer.sender);

    alice.close()?;
    bob.close()?;
    Ok(())
}
