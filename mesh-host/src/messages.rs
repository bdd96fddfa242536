//! [`Messages`]: received messages as a [`Stream`], read from the inbox a
//! socket shares with its driver.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use mesh_proto::mesh::Message;

use crate::Inbox;

/// Every message received from now on, oldest first; ends once the socket
/// is closed and its queue is empty. Taking from it is taking from the
/// socket's receive queue (`recv` and `next` share it).
#[derive(Debug, Clone)]
pub struct Messages {
    inbox: Arc<Inbox>,
}

impl Messages {
    /// The messages of `inbox`.
    pub fn new(inbox: Arc<Inbox>) -> Messages {
        Messages { inbox }
    }
}

impl Stream for Messages {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.inbox.poll_take(cx, 1).map(|mut m| m.pop())
    }
}
