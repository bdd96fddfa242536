//! py2p-style callbacks (`on`, `once`), written once for the async
//! adapters: each runs [`dispatch`] where its runtime runs a callback (a
//! tokio task, a thread of its own...).

use std::future::poll_fn;
use std::pin::Pin;

use futures_core::Stream;
use mesh_proto::mesh::Event;

use crate::{AsyncChannels, AsyncHandle, EventKind, WeakHandle};

/// Calls `call` with a handle and each event of `kind` from `events`, until
/// the stream ends, every other handle is gone (the callback holds the node
/// weakly: it never keeps it open), or, with `once`, after the first.
pub async fn dispatch<A, E>(
    mut events: E,
    weak: WeakHandle<A>,
    kind: EventKind,
    once: bool,
    mut call: impl FnMut(AsyncHandle<A>, &Event),
) where
    A: AsyncChannels,
    E: Stream<Item = Event> + Unpin,
{
    while let Some(event) = poll_fn(|cx| Pin::new(&mut events).poll_next(cx)).await {
        if EventKind::of(&event) != Some(kind) {
            continue;
        }
        let Some(handle) = weak.upgrade() else {
            return;
        };
        call(handle, &event);
        if once {
            return;
        }
    }
}

/// A `once` callback as the `FnMut` [`dispatch`] takes (it is called at
/// most once).
pub fn once_fn<S, T>(f: impl FnOnce(&S, &T)) -> impl FnMut(&S, &T) {
    let mut f = Some(f);
    move |s, t| {
        if let Some(f) = f.take() {
            f(s, t);
        }
    }
}
