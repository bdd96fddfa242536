//! The in-flight window of a line run whose publisher and counter share one
//! task, and the way that task polls them.
//!
//! A semaphore would do as a window, but the counter's `add_permits` would
//! wake the publisher's waker, which is the waker of the task running it:
//! tokio (like async-executor) takes such a wake-up for a yield, sends the
//! task to the back of its queue and wakes another worker to steal it. That
//! cost (a cross-thread wake-up a delivery, several microseconds on this
//! machine) belongs to the bench, not to the library it measures. Here the
//! credits come only from the counter, and [`interleave`] polls the
//! publisher again as soon as the counter has taken deliveries, so the
//! publisher waiting for a credit needs no waker at all.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

/// Free places in the window. Only the counter adds to them, so
/// [`interleave`] re-polls the publisher when they grew while the counter
/// ran. (Atomic only so that the task's future is `Send`: one task uses it.)
#[derive(Debug)]
pub struct Window {
    free: AtomicU64,
}

impl Window {
    /// A window of `size` places, all free.
    pub fn new(size: u64) -> Window {
        Window {
            free: AtomicU64::new(size),
        }
    }

    /// Waits for a free place and takes it. Only for a publisher polled by
    /// [`interleave`] with the counter that [`release`](Self::release)s: it
    /// registers no waker.
    pub async fn take(&self) {
        std::future::poll_fn(|_| {
            let free = self.free();
            if free == 0 {
                return Poll::Pending;
            }
            self.free.store(free - 1, Ordering::Relaxed);
            Poll::Ready(())
        })
        .await
    }

    /// Frees `n` places (`n` deliveries were counted).
    pub fn release(&self, n: u64) {
        self.free.fetch_add(n, Ordering::Relaxed);
    }

    fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }
}

/// Runs `publish` and `count` in the calling task until either ends:
/// whenever `count` releases places in `window`, `publish` is polled again
/// before the task waits.
pub async fn interleave<P, C>(window: Option<&Window>, publish: P, count: C)
where
    P: Future<Output = ()>,
    C: Future<Output = ()>,
{
    let (mut publish, mut count) = (pin!(publish), pin!(count));
    std::future::poll_fn(|cx| {
        loop {
            if publish.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let before = window.map(Window::free);
            if count.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            if window.map(Window::free) == before {
                return Poll::Pending;
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A publisher that waits on the window runs again as soon as the
    /// counter frees a place, in the same poll, with no waker involved.
    #[test]
    fn the_publisher_goes_on_once_the_counter_frees_a_place() {
        let window = Window::new(1);
        let published = AtomicU64::new(0);
        let counted = AtomicBool::new(false);
        let publish = async {
            for _ in 0..2 {
                window.take().await;
                published.fetch_add(1, Ordering::Relaxed);
            }
        };
        let count = async {
            // Counts the first delivery, then never ends.
            if !counted.swap(true, Ordering::Relaxed) {
                window.release(1);
            }
            std::future::pending::<()>().await;
        };
        let run = pin!(interleave(Some(&window), publish, count));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(run.poll(&mut cx).is_ready(), "done in one poll");
        assert_eq!(published.load(Ordering::Relaxed), 2);
    }

    /// With nothing released, a publisher out of places leaves the task
    /// waiting (on the counter's own wakers).
    #[test]
    fn without_deliveries_the_publisher_waits() {
        let window = Window::new(1);
        let publish = async {
            window.take().await;
            window.take().await;
        };
        let count = std::future::pending::<()>();
        let run = pin!(interleave(Some(&window), publish, count));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(run.poll(&mut cx).is_pending());
    }
}
