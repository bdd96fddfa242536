//! One mesh node on any of the runtime adapters, behind one async surface:
//! [`Node`]. The `mesh` binary runs its nodes through it (`--runtime`), and
//! the cross-adapter test suites drive every adapter through it, so both
//! exercise one facade.
//!
//! Every call works under any executor: blocking calls of mesh-blocking run
//! on a thread pool ([`blocking::unblock`]), and timeouts use async-io's
//! timer. A mesh-tokio node must be bound inside a tokio runtime (its
//! driver is a tokio task); its calls then work from anywhere.
//!
//! ```
//! use std::time::Duration;
//! use mesh_node::{BindOptions, Node, Runtime};
//! use mesh_proto::wire::{Encryption, Protocol, Value};
//!
//! futures_lite::future::block_on(async {
//!     let protocol = Protocol::new("docs", Encryption::Plaintext);
//!     let bind = |rt| Node::bind(rt, "127.0.0.1", 0, protocol.clone(), |_| {}, BindOptions::default());
//!     let a = bind(Runtime::AsyncStd).await.unwrap();
//!     let b = bind(Runtime::Blocking).await.unwrap();
//!     b.connect("127.0.0.1", a.port()).await.unwrap();
//!     while a.routes().await.is_empty() {
//!         async_io::Timer::after(Duration::from_millis(10)).await;
//!     }
//!     a.send(vec![Value::from("hi")]).await.unwrap();
//!     let got = b.next(Duration::from_secs(10)).await.expect("delivered");
//!     assert_eq!(got.packets[1], Value::from("hi"));
//!     a.close().await.unwrap();
//!     b.close().await.unwrap();
//! });
//! ```

#![forbid(unsafe_code)]

mod events;
mod node;

pub use events::Events;
pub use node::{BindOptions, Node, Runtime};

/// `f`, or `None` once `limit` has passed (async-io's timer: any executor).
pub async fn within<F: Future>(limit: std::time::Duration, f: F) -> Option<F::Output> {
    let timeout = async {
        async_io::Timer::after(limit).await;
        None
    };
    futures_lite::future::or(async { Some(f.await) }, timeout).await
}
