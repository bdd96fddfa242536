//! The adapter's own executor: every socket runs its driver and connection
//! tasks on an [`async_executor::Executor`] served by one thread of its own,
//! which ends once the last of those tasks is gone.
//!
//! I/O readiness and timers come from `async-io`'s process-wide reactor, the
//! same one async-std and smol use, so nothing here depends on (or starts) the
//! user's executor.

use std::fmt;
use std::io;
use std::sync::Arc;

use async_executor::{Executor, Task};

/// Spawns onto one socket's executor thread. Every task it spawns holds a
/// `live` token; the thread stops when the last token (the last task, or the
/// last `Spawner`) is dropped.
#[derive(Clone)]
pub(crate) struct Spawner {
    ex: Arc<Executor<'static>>,
    live: async_channel::Sender<()>,
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

impl Spawner {
    /// Starts the executor thread, named `mesh@{port}` after the socket's
    /// listening port.
    pub(crate) fn start(port: u16) -> io::Result<Spawner> {
        let ex = Arc::new(Executor::new());
        // Nothing is ever sent: `recv` fails once every token is dropped.
        let (live, done) = async_channel::bounded::<()>(1);
        let runner = ex.clone();
        std::thread::Builder::new()
            .name(format!("mesh@{port}"))
            .spawn(move || {
                async_io::block_on(runner.run(async move {
                    let _ = done.recv().await;
                }));
                tracing::trace!("executor thread done");
            })?;
        Ok(Spawner { ex, live })
    }

    /// Spawns `fut`. Dropping the returned task cancels it; `detach` it to
    /// let it run to its end.
    pub(crate) fn spawn<F>(&self, fut: F) -> Task<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let live = self.live.clone();
        self.ex.spawn(async move {
            let _live = live;
            fut.await;
        })
    }
}
