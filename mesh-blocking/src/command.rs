//! What the driver thread reads from its one channel: commands from user
//! handles (each with a reply channel) and I/O events from the other threads.

use crate::driver::IoEvent;
use crate::runtime::Threads;

/// A request from a [`MeshSocket`](crate::MeshSocket) to the driver.
pub(crate) type Command = mesh_host::Command<Threads>;

/// One input of the driver thread.
pub(crate) enum Input {
    Cmd(Command),
    Io(IoEvent),
    /// The last [`MeshSocket`](crate::MeshSocket) handle was dropped.
    HandlesDropped,
    /// The accept thread is gone and the listening socket closed.
    ListenerDone,
}
