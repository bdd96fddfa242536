//! The conformance suite (`mesh_tests::conformance`): every scenario against
//! every runtime adapter — mesh-tokio, mesh-async-std driven from async-std
//! and from smol, mesh-blocking (the adapters of `mesh_tests::nodes`) — plus
//! one mesh mixing them all.

use mesh_proto::wire::Encryption::{Plaintext, Ssl};
use mesh_tests::conformance as c;
use mesh_tests::nodes::{AsyncStd, Blocking, Smol, Tokio};

/// Adapter × scenario: one module per adapter, one test per scenario. A TLS
/// variant fails (it does not skip) where the adapter cannot bind TLS.
macro_rules! conformance {
    ($($module:ident: $adapter:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn propagation_plaintext() {
                c::bounded(|| c::propagation(&$adapter, Plaintext));
            }
            #[test]
            fn propagation_tls() {
                c::bounded(|| c::propagation(&$adapter, Ssl));
            }
            #[test]
            fn whisper_plaintext() {
                c::bounded(|| c::whisper(&$adapter, Plaintext));
            }
            #[test]
            fn whisper_tls() {
                c::bounded(|| c::whisper(&$adapter, Ssl));
            }
            #[test]
            fn protocol_rejection_plaintext() {
                c::bounded(|| c::protocol_rejection(&$adapter, Plaintext));
            }
            #[test]
            fn protocol_rejection_tls() {
                c::bounded(|| c::protocol_rejection(&$adapter, Ssl));
            }
            #[test]
            fn handler_registry_plaintext() {
                c::bounded(|| c::handler_registry(&$adapter, Plaintext));
            }
            #[test]
            fn handler_registry_tls() {
                c::bounded(|| c::handler_registry(&$adapter, Ssl));
            }
            #[test]
            fn reply_plaintext() {
                c::bounded(|| c::reply(&$adapter, Plaintext));
            }
            #[test]
            fn reply_tls() {
                c::bounded(|| c::reply(&$adapter, Ssl));
            }
            #[test]
            fn tls_both_ways() {
                c::bounded(|| c::tls_both_ways(&$adapter));
            }
            #[test]
            fn tls_big_packet() {
                c::bounded(|| c::tls_big_packet(&$adapter));
            }
            #[test]
            fn tls_refuses_plaintext_socket() {
                c::bounded(|| c::tls_refuses_plaintext_socket(&$adapter));
            }
            #[test]
            fn tls_dial_to_plaintext_peer() {
                c::bounded(|| c::tls_dial_to_plaintext_peer(&$adapter));
            }
            #[test]
            fn plaintext_dials_tls() {
                c::bounded(|| c::plaintext_dials_tls(&$adapter));
            }
            #[test]
            fn tls_dials_plaintext() {
                c::bounded(|| c::tls_dials_plaintext(&$adapter));
            }
            #[test]
            fn tls_silent_peer() {
                c::bounded(|| c::tls_silent_peer(&$adapter));
            }
            #[test]
            fn tls_handshake_flood() {
                c::bounded(|| c::tls_handshake_flood(&$adapter));
            }
            #[test]
            fn graceful_close_plaintext() {
                c::bounded(|| c::graceful_close(&$adapter, Plaintext));
            }
            #[test]
            fn graceful_close_tls() {
                c::bounded(|| c::graceful_close(&$adapter, Ssl));
            }
            #[test]
            fn close_ends_everything() {
                c::bounded(|| c::close_ends_everything(&$adapter));
            }
            #[test]
            fn backpressure() {
                c::bounded(|| c::backpressure(&$adapter));
            }
            #[test]
            fn port_zero() {
                c::bounded(|| c::port_zero(&$adapter));
            }
        }
    )*};
}

conformance! {
    on_tokio: Tokio::new();
    on_async_std: AsyncStd;
    on_smol: Smol;
    on_blocking: Blocking;
}

#[test]
fn mixed_mesh_of_every_adapter() {
    c::bounded(|| c::mixed_mesh(&[&Tokio::new(), &AsyncStd, &Smol, &Blocking]));
}
