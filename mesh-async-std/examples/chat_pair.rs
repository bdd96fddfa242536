//! Two nodes on loopback say hello to each other, then close. It runs under
//! async-std's executor, then again under smol's: the adapter works the same.
//!
//! ```sh
//! cargo run -p mesh-async-std --example chat_pair
//! ```

use std::error::Error;
use std::time::Duration;

use async_io::Timer;
use futures_lite::{StreamExt, future};
use mesh_async_std::{Encryption, Event, MeshSocket, Protocol, Value};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// `f`, or an error after 10 s.
async fn timeout<T>(f: impl Future<Output = T>) -> Result<T> {
    future::or(async { Ok(f.await) }, async {
        Timer::after(Duration::from_secs(10)).await;
        Err("timed out".into())
    })
    .await
}

async fn chat() -> Result<()> {
    let protocol = Protocol::new("chat", Encryption::Plaintext);
    let alice = MeshSocket::bind("127.0.0.1", 0, protocol.clone(), None).await?;
    let bob = MeshSocket::bind("127.0.0.1", 0, protocol, None).await?;
    println!("alice {} listens on {}", alice.id(), alice.local_addr());
    println!("bob   {} listens on {}", bob.id(), bob.local_addr());

    let mut events = bob.events();
    bob.connect("127.0.0.1", alice.local_addr().port()).await?;
    timeout(async { while !matches!(events.next().await, Some(Event::PeerUp { .. })) {} }).await?;

    bob.send(vec![Value::from("hello, alice")]).await?;
    let msg = timeout(alice.next()).await?.ok_or("alice closed")?;
    println!("alice got {:?} from {}", msg.packets[1], msg.sender);

    alice.reply(&msg, vec![Value::from("hi bob")]).await?;
    let answer = timeout(bob.next()).await?.ok_or("bob closed")?;
    println!("bob got {:?} from {}", answer.packets[1], answer.sender);

    alice.close().await?;
    bob.close().await?;
    Ok(())
}

fn main() -> Result<()> {
    println!("-- under async-std");
    async_std::task::block_on(chat())?;
    println!("-- under smol");
    smol::block_on(chat())
}
