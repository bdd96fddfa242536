//! The sans-IO core of a py2p-compatible mesh.
//!
//! [`wire`] speaks py2p 0.7's wire protocol byte for byte: msgpack values,
//! checksummed and optionally compressed frames, a stream deframer, protocol
//! and node ids. [`mesh`] is py2p's `MeshSocket` as a state machine (with lazy
//! push between our own nodes, [`mesh::lazy`]); `sim` (feature `sim`) runs
//! thousands of them over virtual TCP. Nothing here touches a socket, a
//! thread, a clock or the OS random number generator, so the same code runs
//! under any runtime, in a simulator, and under a fuzzer.
//!
//! No `unsafe` but one measured exception: a cache prefetch hint in the
//! dedup cache (`mesh/seen.rs`), which hides a memory round trip behind the
//! frame's SHA-256.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod mesh;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;
