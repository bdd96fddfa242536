//! The hostile-peer suite (`mesh_tests::hostile`): raw TCP attackers on
//! 127.0.0.1 against a victim node of every runtime adapter — mesh-tokio,
//! mesh-async-std driven from async-std and from smol, mesh-blocking — with
//! honest nodes linked to it. The cheap attacks run on every adapter; the
//! expensive ones (a million duplicates, 2,000 silent connections, a
//! 100,000-entry peer list) on tokio and on blocking. Scenarios run one at
//! a time (`hostile::run` holds a global lock), so each one's RSS is its own.

use mesh_tests::hostile as h;
use mesh_tests::nodes::{AsyncStd, Blocking, Smol, Tokio};

/// Adapter × cheap attack: one module per adapter, one test per attack.
macro_rules! hostile {
    ($($module:ident: $adapter:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn length_headers() {
                h::run(|| h::length_headers(&$adapter));
            }
            #[test]
            fn slow_peers() {
                h::run(|| h::slow_peers(&$adapter));
            }
            #[test]
            fn bad_checksums() {
                h::run(|| h::bad_checksums(&$adapter));
            }
            #[test]
            fn wrong_shapes() {
                h::run(|| h::wrong_shapes(&$adapter));
            }
            #[test]
            fn huge_containers() {
                h::run(|| h::huge_containers(&$adapter));
            }
            #[test]
            fn compression_bombs() {
                h::run(|| h::compression_bombs(&$adapter));
            }
            #[test]
            fn bad_handshakes() {
                h::run(|| h::bad_handshakes(&$adapter));
            }
            #[test]
            fn peer_list_naming_itself() {
                h::run(|| h::peer_list(&$adapter, 40));
            }
            #[test]
            fn connection_flood_small() {
                h::run(|| h::connection_flood(&$adapter, 100));
            }
            #[test]
            fn stale_and_future() {
                h::run(|| h::stale_and_future(&$adapter));
            }
            #[test]
            fn duplicates_small() {
                h::run(|| h::duplicates(&$adapter, 10_000));
            }
            #[test]
            fn garbage_bytes() {
                h::run(|| h::garbage_bytes(&$adapter));
            }
            #[test]
            fn tls_at_plaintext_node() {
                h::run(|| h::tls_at_plaintext_node(&$adapter));
            }
            #[test]
            fn plaintext_at_tls_node() {
                h::run(|| h::plaintext_at_tls_node(&$adapter));
            }
        }
    )*};
}

hostile! {
    on_tokio: Tokio::new();
    on_async_std: AsyncStd;
    on_smol: Smol;
    on_blocking: Blocking;
}

/// The expensive attacks, on two adapters.
macro_rules! expensive {
    ($($module:ident: $adapter:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn a_million_duplicates() {
                h::run(|| h::duplicates(&$adapter, 1_000_000));
            }
            #[test]
            fn two_thousand_silent_connections() {
                h::run(|| h::connection_flood(&$adapter, 2_000));
            }
            #[test]
            fn a_peer_list_of_100_000() {
                h::run(|| h::peer_list(&$adapter, 100_000));
            }
        }
    )*};
}

expensive! {
    expensive_on_tokio: Tokio::new();
    expensive_on_blocking: Blocking;
}
