//! Every bound the wire layer enforces on what a peer sends, in one place.

/// Bounds on untrusted input. Each violation is its own [`WireError`](super::WireError)
/// variant naming the limit and the offending value.
///
/// py2p bounds none of these (a frame may claim 4 GiB); the defaults here are
/// generous for chat-sized and file-chunk-sized messages while keeping one bad
/// peer from costing more than a few tens of MiB.
///
/// ```
/// use mesh_proto::wire::Limits;
/// let tight = Limits { max_frame: 64 * 1024, ..Limits::default() };
/// assert_eq!(tight.max_depth, Limits::default().max_depth);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame length accepted in the 4-byte header, i.e. bytes after the
    /// header, after compression. Checked before anything past the header is
    /// buffered. Default 16 MiB.
    pub max_frame: usize,
    /// Largest decompressed packet (checksum + body). Decompression stops at
    /// this many bytes: a bomb is an error, never an allocation. Default 16 MiB.
    pub max_decompressed: usize,
    /// Deepest nesting of arrays and maps in the body (the body array itself is
    /// depth 1). Default 64.
    pub max_depth: usize,
    /// Most items one array or map may claim. Default 1,048,576.
    pub max_container_len: usize,
    /// Most payload packets (items after msg_type, sender, time). Default 65,536.
    pub max_packets: usize,
    /// Largest frame accepted on a connection before its handshake (a
    /// handshake is a few hundred bytes): connections that have not said
    /// who they are cannot make the node buffer `max_frame` each. Default 64 KiB.
    pub max_frame_before_handshake: usize,
}

impl Limits {
    /// The defaults described on each field.
    pub const DEFAULT: Limits = Limits {
        max_frame: 16 * 1024 * 1024,
        max_decompressed: 16 * 1024 * 1024,
        max_depth: 64,
        max_container_len: 1 << 20,
        max_packets: 1 << 16,
        max_frame_before_handshake: 64 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}
