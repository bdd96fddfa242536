//! Two nodes on loopback say hello to each other, then close.
//!
//! ```sh
//! cargo run -p mesh-tokio --example chat_pair
//! ```

use std::time::Duration;

use mesh_tokio::{Encryption, Event, MeshSocket, Protocol, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protocol = Protocol::new("chat", Encryption::Plaintext);
    let alice = MeshSocket::bind("127.0.0.1", 0, protocol.clone(), None).await?;
    let bob = MeshSocket::bind("127.0.0.1", 0, protocol, None).await?;
    println!("alice {} listens on {}", alice.id(), alice.local_addr());
    println!("bob   {} listens on {}", bob.id(), bob.local_addr());

    let mut events = bob.events();
    bob.connect("127.0.0.1", alice.local_addr().port()).await?;
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(events.recv().await, Some(Event::PeerUp { .. })) {}
    })
    .await?;

    bob.send(vec![Value::from("hello, alice")]).await?;
    let msg = tokio::time::timeout(Duration::from_secs(10), alice.next())
        .await?
        .ok_or("alice closed")?;
    println!("alice got {:?} from {}", msg.packets[1], msg.sender);

    alice.reply(&msg, vec![Value::from("hi bob")]).await?;
    let answer = tokio::time::timeout(Duration::from_secs(10), bob.next())
        .await?
        .ok_or("bob closed")?;
    println!("bob got {:?} from {}", answer.packets[1], answer.sender);

    alice.close().await?;
    bob.close().await?;
    Ok(())
}
