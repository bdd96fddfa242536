//! The CLI's nodes: the shared [`mesh_node::Node`] facade (the one the
//! cross-adapter test suites drive too), on the runtime the user picked
//! (`--runtime`).

use std::io;

use mesh_proto::mesh::Config;
use mesh_proto::wire::Protocol;

pub use mesh_node::Node;

use crate::Runtime;

/// Binds a node on `runtime`; `configure` adjusts the core's config.
pub async fn bind(
    runtime: Runtime,
    host: &str,
    port: u16,
    protocol: Protocol,
    out_addr: Option<(String, u16)>,
    configure: fn(&mut Config),
) -> io::Result<Node> {
    let runtime = match runtime {
        Runtime::Tokio => mesh_node::Runtime::Tokio,
        // One adapter, the smol stack, serves both.
        Runtime::AsyncStd | Runtime::Smol => mesh_node::Runtime::AsyncStd,
        Runtime::Blocking => mesh_node::Runtime::Blocking,
    };
    let options = mesh_node::BindOptions {
        out_addr,
        write_stall: None,
    };
    Node::bind(runtime, host, port, protocol, configure, options).await
}
