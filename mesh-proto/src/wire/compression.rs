//! Compression methods of the protocol, each behind its own cargo feature.
//!
//! Decompression always streams into a hard output cap, so a small packet that
//! inflates to gigabytes is an error and never an allocation.

use std::fmt;
#[cfg(any(feature = "zlib", feature = "gzip", feature = "bz2", feature = "lzma"))]
use std::io::Read;

use super::WireError;

/// A compression method and its py2p flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
// Word-sized on purpose: a lone byte in a `WireError` variant made every move
// of a decode `Result` copy 7 odd bytes, with store-forwarding stalls
// (measured: ~10% of decoding a 100-byte frame).
#[repr(u64)]
pub enum Compression {
    /// bz2 (flag 0x10).
    Bz2,
    /// gzip (flag 0x11); decoded with zlib/gzip header auto-detection, as py2p.
    Gzip,
    /// lzma, xz container (flag 0x12); the legacy `.lzma` format also decodes.
    Lzma,
    /// zlib (flag 0x13); decoded with zlib/gzip header auto-detection, as py2p.
    Zlib,
    /// Raw (unframed) snappy, as python-snappy's `compress` (flag 0x20).
    Snappy,
}

/// Memory the lzma decoder may use. Its dictionary size comes from the peer's
/// header, so it needs a cap of its own besides the output cap.
#[cfg(feature = "lzma")]
const LZMA_MEMLIMIT: u64 = 64 * 1024 * 1024;

impl Compression {
    /// Every method the protocol names, in py2p's preference order.
    pub const ALL: [Compression; 5] = [
        Compression::Snappy,
        Compression::Zlib,
        Compression::Gzip,
        Compression::Bz2,
        Compression::Lzma,
    ];

    /// The methods compiled into this build, in our preference order (py2p's:
    /// snappy, zlib, gzip, bz2, lzma).
    pub fn supported() -> &'static [Compression] {
        static SUPPORTED: std::sync::OnceLock<Vec<Compression>> = std::sync::OnceLock::new();
        SUPPORTED.get_or_init(|| {
            Compression::ALL
                .into_iter()
                .filter(|c| c.is_supported())
                .collect()
        })
    }

    /// The flag byte on the wire.
    pub fn flag(self) -> u8 {
        match self {
            Compression::Bz2 => 0x10,
            Compression::Gzip => 0x11,
            Compression::Lzma => 0x12,
            Compression::Zlib => 0x13,
            Compression::Snappy => 0x20,
        }
    }

    /// The method's lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Bz2 => "bz2",
            Compression::Gzip => "gzip",
            Compression::Lzma => "lzma",
            Compression::Zlib => "zlib",
            Compression::Snappy => "snappy",
        }
    }

    /// Whether this build can compress and decompress with it.
    pub fn is_supported(self) -> bool {
        match self {
            Compression::Bz2 => cfg!(feature = "bz2"),
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Lzma => cfg!(feature = "lzma"),
            Compression::Zlib => cfg!(feature = "zlib"),
            Compression::Snappy => cfg!(feature = "snappy"),
        }
    }

    /// A cheap look at the first bytes: can this be the method's output at all?
    /// Skips building a decoder (tens of KiB for inflate) for every plain packet
    /// from a peer that advertised compression but sent raw bytes.
    pub fn plausible(self, data: &[u8]) -> bool {
        match self {
            Compression::Zlib | Compression::Gzip => match data {
                [0x1f, 0x8b, ..] => true,
                [cmf, flg, ..] => {
                    cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
                }
                _ => false,
            },
            Compression::Bz2 => data.starts_with(b"BZh"),
            // xz magic, or a legacy .lzma properties byte (lc/lp/pb packed below 225).
            Compression::Lzma => {
                data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
                    || data.first().is_some_and(|b| *b < 225)
            }
            Compression::Snappy => !data.is_empty(),
        }
    }

    /// The method that really produced `data`: zlib and gzip decode through one
    /// auto-detecting decoder (as py2p), so report the one the header names.
    pub(crate) fn as_detected(self, data: &[u8]) -> Compression {
        match self {
            Compression::Zlib | Compression::Gzip if data.starts_with(&[0x1f, 0x8b]) => {
                Compression::Gzip
            }
            Compression::Zlib | Compression::Gzip => Compression::Zlib,
            other => other,
        }
    }

    /// Compresses `data` the way py2p does (default levels).
    ///
    /// ```
    /// use mesh_proto::wire::{Compression, Limits};
    /// for &method in Compression::supported() {
    ///     let packed = method.compress(&[7u8; 1000]).unwrap();
    ///     assert!(packed.len() < 200, "{method}");
    ///     let unpacked = method.decompress(&packed, Limits::default().max_decompressed).unwrap();
    ///     assert_eq!(unpacked, vec![7u8; 1000]);
    /// }
    /// ```
    // With every codec feature off, the arguments go unused.
    #[cfg_attr(
        not(any(
            feature = "zlib",
            feature = "gzip",
            feature = "bz2",
            feature = "lzma",
            feature = "snappy"
        )),
        allow(unused_variables)
    )]
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, WireError> {
        if !self.is_supported() {
            return Err(WireError::CompressionUnavailable(self));
        }
        let fail = |e: std::io::Error| WireError::Compression {
            method: self,
            reason: e.to_string(),
        };
        match self {
            #[cfg(feature = "zlib")]
            Compression::Zlib => {
                use std::io::Write;
                let mut enc =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).map_err(fail)?;
                enc.finish().map_err(fail)
            }
            #[cfg(feature = "gzip")]
            Compression::Gzip => {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).map_err(fail)?;
                enc.finish().map_err(fail)
            }
            #[cfg(feature = "bz2")]
            Compression::Bz2 => {
                let mut out = Vec::new();
                bzip2::read::BzEncoder::new(data, bzip2::Compression::best())
                    .read_to_end(&mut out)
                    .map_err(fail)?;
                Ok(out)
            }
            #[cfg(feature = "lzma")]
            Compression::Lzma => {
                let mut out = Vec::new();
                liblzma::read::XzEncoder::new(data, 6)
                    .read_to_end(&mut out)
                    .map_err(fail)?;
                Ok(out)
            }
            #[cfg(feature = "snappy")]
            Compression::Snappy => snap::raw::Encoder::new()
                .compress_vec(data)
                .map_err(|e| fail(e.into())),
            #[allow(unreachable_patterns)]
            _ => Err(WireError::CompressionUnavailable(self)),
        }
    }

    /// Decompresses `data`, failing with [`WireError::DecompressedTooLarge`] as
    /// soon as the output would pass `max_out` bytes.
    // With every codec feature off, the arguments go unused.
    #[cfg_attr(
        not(any(
            feature = "zlib",
            feature = "gzip",
            feature = "bz2",
            feature = "lzma",
            feature = "snappy"
        )),
        allow(unused_variables)
    )]
    pub fn decompress(self, data: &[u8], max_out: usize) -> Result<Vec<u8>, WireError> {
        #[cfg(any(feature = "zlib", feature = "gzip", feature = "bz2", feature = "lzma"))]
        let capped = |reader: &mut dyn Read| read_capped(self, reader, max_out);
        match self {
            // py2p decodes both with `wbits = MAX_WBITS | 32`: either flag reads either header.
            #[cfg(any(feature = "zlib", feature = "gzip"))]
            Compression::Zlib | Compression::Gzip if self.is_supported() => {
                if data.starts_with(&[0x1f, 0x8b]) {
                    capped(&mut flate2::read::GzDecoder::new(data))
                } else {
                    capped(&mut flate2::read::ZlibDecoder::new(data))
                }
            }
            #[cfg(feature = "bz2")]
            Compression::Bz2 => capped(&mut bzip2::read::MultiBzDecoder::new(data)),
            #[cfg(feature = "lzma")]
            Compression::Lzma => {
                let stream = liblzma::stream::Stream::new_auto_decoder(
                    LZMA_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(|e| WireError::Compression {
                    method: self,
                    reason: e.to_string(),
                })?;
                capped(&mut liblzma::read::XzDecoder::new_stream(data, stream))
            }
            #[cfg(feature = "snappy")]
            Compression::Snappy => {
                let fail = |e: snap::Error| WireError::Compression {
                    method: self,
                    reason: e.to_string(),
                };
                // Raw snappy states its output size up front: check it before allocating.
                let len = snap::raw::decompress_len(data).map_err(fail)?;
                if len > max_out {
                    return Err(WireError::DecompressedTooLarge {
                        method: self,
                        max: max_out,
                    });
                }
                snap::raw::Decoder::new().decompress_vec(data).map_err(fail)
            }
            _ => Err(WireError::CompressionUnavailable(self)),
        }
    }
}

/// Reads a decoder to its end, but never more than `max_out` bytes. The buffer
/// grows with what is actually produced, never with what a header claims.
#[cfg(any(feature = "zlib", feature = "gzip", feature = "bz2", feature = "lzma"))]
fn read_capped(
    method: Compression,
    reader: &mut dyn Read,
    max_out: usize,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max_out).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| WireError::Compression {
            method,
            reason: e.to_string(),
        })?;
    if out.len() > max_out {
        return Err(WireError::DecompressedTooLarge {
            method,
            max: max_out,
        });
    }
    Ok(out)
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u64> for Compression {
    type Error = WireError;

    fn try_from(flag: u64) -> Result<Compression, WireError> {
        Compression::ALL
            .into_iter()
            .find(|c| u64::from(c.flag()) == flag)
            .ok_or(WireError::UnknownCompression(flag))
    }
}

impl TryFrom<u8> for Compression {
    type Error = WireError;

    fn try_from(flag: u8) -> Result<Compression, WireError> {
        Compression::try_from(u64::from(flag))
    }
}
