//! How a socket's own executor thread ends: dropping every handle closes the
//! node, and the thread is gone after a close; each under async-std and
//! under smol. (Binding, protocol rejection, closing and a graceful close
//! are in the conformance suite, `mesh_tests::conformance`, on every
//! adapter.)

#[macro_use]
mod common;

use std::time::Duration;

use common::{link, node, sleep, wait_routes, within};

on_both!(
    dropping_every_handle_closes_the_node,
    the_executor_thread_ends_after_close,
);

async fn dropping_every_handle_closes_the_node() {
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    let port = a.local_addr().port();
    let a2 = a.clone();
    drop(a);
    // A clone keeps it open.
    sleep(Duration::from_millis(100)).await;
    assert_eq!(b.routes().await.len(), 1);
    drop(a2);
    wait_routes(&b, &[]).await;
    within(async {
        while async_net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Whether this process has a thread named `name` (Linux: `/proc`).
fn has_thread(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .any(|comm| comm.trim_end() == name)
}

async fn the_executor_thread_ends_after_close() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let (a, b) = (node().await, node().await);
    link(&a, &b, &[b.id()], &[a.id()]).await;
    let thread = format!("mesh@{}", a.local_addr().port());
    assert!(has_thread(&thread), "bind starts {thread}");
    within(a.close()).await.expect("close");
    // b sees the close and hangs up too, so no reader lingers: once the last
    // handle is gone, nothing is left to run.
    wait_routes(&b, &[]).await;
    drop(a);
    within(async {
        while has_thread(&thread) {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
