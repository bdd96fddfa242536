//! msgpack reading and writing, bounded and zero-copy.
//!
//! Marker classification and the writers come from `rmp`; the reader is ours
//! because it must slice str/bin out of a shared [`Bytes`] (zero copy) and
//! check every length against the bytes left and the [`Limits`] before it
//! allocates anything.

use bytes::{BufMut, Bytes};
use rmp::Marker;

use super::{Integer, Limits, Utf8Bytes, Value, WireError};

/// A cursor over one msgpack document held in shared [`Bytes`].
///
/// Internally a failure is the zero-sized [`Stop`] and the error waits in
/// `error`: a `Result<Value, Stop>` is no bigger than a `Value`, which keeps
/// the hot parse loop from shuffling large results through memory (measured:
/// parsing a 100-byte broadcast went from ~150 ns to a third of that).
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    limits: &'a Limits,
    error: Option<WireError>,
}

/// The reader stopped; the reason is in [`Reader::into_error`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stop;

type R<T> = Result<T, Stop>;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a Bytes, limits: &'a Limits) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            limits,
            error: None,
        }
    }

    #[cold]
    fn fail<T>(&mut self, e: WireError) -> R<T> {
        self.error = Some(e);
        Err(Stop)
    }

    /// The error behind a [`Stop`].
    pub(crate) fn into_error(self) -> WireError {
        self.error
            .unwrap_or(WireError::TruncatedBody { offset: self.pos })
    }

    /// Records `e` and stops.
    pub(crate) fn stop<T>(&mut self, e: WireError) -> R<T> {
        self.fail(e)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.remaining() < n {
            return self.fail(WireError::TruncatedBody { offset: self.pos });
        }
        let bytes: &'a [u8] = self.buf;
        let out = &bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    #[inline]
    fn byte(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    #[inline]
    fn len8(&mut self) -> R<usize> {
        Ok(usize::from(self.byte()?))
    }

    #[inline]
    fn len16(&mut self) -> R<usize> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }

    fn len32(&mut self) -> R<usize> {
        let n = u32::from_be_bytes(self.be()?);
        match usize::try_from(n) {
            Ok(n) => Ok(n),
            Err(_) => self.fail(WireError::TruncatedBody { offset: self.pos }),
        }
    }

    /// Reads an integer header field without building a [`Value`]; `None`
    /// (with the position unchanged) if the next value is not an integer.
    pub(crate) fn int(&mut self) -> R<Option<Integer>> {
        let start = self.pos;
        let i = match Marker::from_u8(self.byte()?) {
            Marker::FixPos(n) => Integer::from(n),
            Marker::FixNeg(n) => Integer::from(n),
            Marker::U8 => Integer::from(self.byte()?),
            Marker::U16 => Integer::from(u16::from_be_bytes(self.be()?)),
            Marker::U32 => Integer::from(u32::from_be_bytes(self.be()?)),
            Marker::U64 => Integer::from(u64::from_be_bytes(self.be()?)),
            Marker::I8 => Integer::from(i8::from_be_bytes(self.be()?)),
            Marker::I16 => Integer::from(i16::from_be_bytes(self.be()?)),
            Marker::I32 => Integer::from(i32::from_be_bytes(self.be()?)),
            Marker::I64 => Integer::from(i64::from_be_bytes(self.be()?)),
            _ => {
                self.pos = start;
                return Ok(None);
            }
        };
        Ok(Some(i))
    }

    /// Reads a bin or str header field as bytes (`true` when it was a str);
    /// `None` (position unchanged) for anything else.
    pub(crate) fn bin_or_str(&mut self) -> R<Option<(Bytes, bool)>> {
        let start = self.pos;
        let (n, is_str) = match Marker::from_u8(self.byte()?) {
            Marker::Bin8 => (self.len8()?, false),
            Marker::Bin16 => (self.len16()?, false),
            Marker::Bin32 => (self.len32()?, false),
            Marker::FixStr(n) => (usize::from(n), true),
            Marker::Str8 => (self.len8()?, true),
            Marker::Str16 => (self.len16()?, true),
            Marker::Str32 => (self.len32()?, true),
            _ => {
                self.pos = start;
                return Ok(None);
            }
        };
        let offset = self.pos;
        let bytes = self.slice(n)?;
        if is_str && std::str::from_utf8(&bytes).is_err() {
            return self.fail(WireError::InvalidUtf8 { offset });
        }
        Ok(Some((bytes, is_str)))
    }

    /// Reads the header of an array, returning its length, if the next value is one.
    pub(crate) fn array_len(&mut self) -> R<Option<usize>> {
        let start = self.pos;
        let len = match Marker::from_u8(self.byte()?) {
            Marker::FixArray(n) => usize::from(n),
            Marker::Array16 => self.len16()?,
            Marker::Array32 => self.len32()?,
            _ => {
                self.pos = start;
                return Ok(None);
            }
        };
        self.check_container(start, len, 1)?;
        Ok(Some(len))
    }

    /// Every item needs at least one byte: a claim beyond what is left is a lie,
    /// caught before any `Vec` is sized by it.
    fn check_container(&mut self, offset: usize, len: usize, bytes_per_item: usize) -> R<()> {
        if len > self.limits.max_container_len {
            let max = self.limits.max_container_len;
            return self.fail(WireError::ContainerTooLong { len, max });
        }
        if len.saturating_mul(bytes_per_item) > self.remaining() {
            let remaining = self.remaining();
            return self.fail(WireError::ContainerOverrun {
                offset,
                len,
                remaining,
            });
        }
        Ok(())
    }

    #[inline]
    fn slice(&mut self, n: usize) -> R<Bytes> {
        let start = self.pos;
        self.take(n)?;
        Ok(self.buf.slice(start..start + n))
    }

    #[inline]
    fn str<const BUILD: bool>(&mut self, n: usize) -> R<Value> {
        let offset = self.pos;
        if !BUILD {
            return match std::str::from_utf8(self.take(n)?) {
                Ok(_) => Ok(Value::Nil),
                Err(_) => self.fail(WireError::InvalidUtf8 { offset }),
            };
        }
        let bytes = self.slice(n)?;
        match Utf8Bytes::from_bytes(bytes) {
            Ok(s) => Ok(Value::Str(s)),
            Err(_) => self.fail(WireError::InvalidUtf8 { offset }),
        }
    }

    #[inline]
    fn bin<const BUILD: bool>(&mut self, n: usize) -> R<Value> {
        if !BUILD {
            self.take(n)?;
            return Ok(Value::Nil);
        }
        Ok(Value::Bin(self.slice(n)?))
    }

    /// `depth` is the depth of this array itself.
    fn array<const BUILD: bool>(&mut self, start: usize, len: usize, depth: usize) -> R<Value> {
        self.check_container(start, len, 1)?;
        if !BUILD {
            for _ in 0..len {
                self.skip_value(depth)?;
            }
            return Ok(Value::Nil);
        }
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            self.push_value(depth, &mut items)?;
        }
        Ok(Value::Array(items))
    }

    fn map<const BUILD: bool>(&mut self, start: usize, len: usize, depth: usize) -> R<Value> {
        self.check_container(start, len, 2)?;
        if !BUILD {
            for _ in 0..2 * len {
                self.skip_value(depth)?;
            }
            return Ok(Value::Nil);
        }
        let mut entries = Vec::with_capacity(len);
        for _ in 0..len {
            let k = self.value(depth)?;
            let v = self.value(depth)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    /// Reads one value. `depth` is the nesting depth of the container that holds it.
    pub(crate) fn value(&mut self, depth: usize) -> R<Value> {
        self.value_inline(depth)
    }

    /// [`value`](Reader::value), inlined into its caller: for a frame's
    /// first packet, read on every frame. Returned through memory from the
    /// call, it was reloaded at once (a store-forwarding stall a frame).
    #[inline(always)]
    pub(crate) fn value_inline(&mut self, depth: usize) -> R<Value> {
        self.read::<true, _>(depth, |v| v)
    }

    /// Checks one value as [`value`](Reader::value) would (every limit,
    /// every string's UTF-8, the same errors) without building it: no
    /// allocation and no reference taken on the buffer.
    pub(crate) fn skip_value(&mut self, depth: usize) -> R<()> {
        self.read::<false, _>(depth, drop)
    }

    /// Reads one value straight onto the end of `out`.
    #[inline]
    pub(crate) fn push_value(&mut self, depth: usize, out: &mut Vec<Value>) -> R<()> {
        self.read::<true, _>(depth, |v| out.push(v))
    }

    /// Reads one value and hands it to `put`. Inlined into the callers so a
    /// pushed value is built in its slot: returning a `Value` through memory
    /// cost store-forwarding stalls on every packet. Without `BUILD` it only
    /// checks: `put` gets [`Value::Nil`] for anything not a scalar.
    #[inline(always)]
    fn read<const BUILD: bool, T>(&mut self, depth: usize, put: impl FnOnce(Value) -> T) -> R<T> {
        let start = self.pos;
        let marker = Marker::from_u8(self.byte()?);
        let is_container = matches!(
            marker,
            Marker::FixArray(_)
                | Marker::Array16
                | Marker::Array32
                | Marker::FixMap(_)
                | Marker::Map16
                | Marker::Map32
        );
        if is_container && depth + 1 > self.limits.max_depth {
            let max = self.limits.max_depth;
            return self.fail(WireError::TooDeep {
                depth: depth + 1,
                max,
            });
        }
        Ok(put(match marker {
            Marker::Null => Value::Nil,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(n) => Value::from(n),
            Marker::FixNeg(n) => Value::from(n),
            Marker::U8 => Value::from(self.byte()?),
            Marker::U16 => Value::from(u16::from_be_bytes(self.be()?)),
            Marker::U32 => Value::from(u32::from_be_bytes(self.be()?)),
            Marker::U64 => Value::from(u64::from_be_bytes(self.be()?)),
            Marker::I8 => Value::from(i8::from_be_bytes(self.be()?)),
            Marker::I16 => Value::from(i16::from_be_bytes(self.be()?)),
            Marker::I32 => Value::from(i32::from_be_bytes(self.be()?)),
            Marker::I64 => Value::from(i64::from_be_bytes(self.be()?)),
            Marker::F32 => Value::F32(f32::from_be_bytes(self.be()?)),
            Marker::F64 => Value::F64(f64::from_be_bytes(self.be()?)),
            Marker::FixStr(n) => self.str::<BUILD>(usize::from(n))?,
            Marker::Str8 => {
                let n = self.len8()?;
                self.str::<BUILD>(n)?
            }
            Marker::Str16 => {
                let n = self.len16()?;
                self.str::<BUILD>(n)?
            }
            Marker::Str32 => {
                let n = self.len32()?;
                self.str::<BUILD>(n)?
            }
            Marker::Bin8 => {
                let n = self.len8()?;
                self.bin::<BUILD>(n)?
            }
            Marker::Bin16 => {
                let n = self.len16()?;
                self.bin::<BUILD>(n)?
            }
            Marker::Bin32 => {
                let n = self.len32()?;
                self.bin::<BUILD>(n)?
            }
            Marker::FixArray(n) => self.array::<BUILD>(start, usize::from(n), depth + 1)?,
            Marker::Array16 => {
                let n = self.len16()?;
                self.array::<BUILD>(start, n, depth + 1)?
            }
            Marker::Array32 => {
                let n = self.len32()?;
                self.array::<BUILD>(start, n, depth + 1)?
            }
            Marker::FixMap(n) => self.map::<BUILD>(start, usize::from(n), depth + 1)?,
            Marker::Map16 => {
                let n = self.len16()?;
                self.map::<BUILD>(start, n, depth + 1)?
            }
            Marker::Map32 => {
                let n = self.len32()?;
                self.map::<BUILD>(start, n, depth + 1)?
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => return self.fail(WireError::ExtNotSupported { offset: start }),
            Marker::Reserved => return self.fail(WireError::ReservedMarker { offset: start }),
        }))
    }
}

/// Decodes one standalone msgpack value (no trailing bytes allowed).
///
/// ```
/// use bytes::Bytes;
/// use mesh_proto::wire::{decode_value, Limits, Value};
/// let v = decode_value(&Bytes::from_static(&[0x92, 0x01, 0xa1, b'x']), &Limits::default()).unwrap();
/// assert_eq!(v, Value::array([Value::from(1u8), Value::from("x")]));
/// ```
pub fn decode_value(buf: &Bytes, limits: &Limits) -> Result<Value, WireError> {
    let mut r = Reader::new(buf, limits);
    let Ok(v) = r.value(0) else {
        return Err(r.into_error());
    };
    match r.remaining() {
        0 => Ok(v),
        extra => Err(WireError::TrailingBodyBytes { extra }),
    }
}

fn len_u32(len: usize) -> Result<u32, WireError> {
    u32::try_from(len).map_err(|_| WireError::Unencodable("length over 2^32-1"))
}

// Writes into a growing buffer cannot fail; rmp's signature still returns a Result.
fn infallible<T, E>(r: Result<T, E>) {
    debug_assert!(r.is_ok());
    let _ = r;
}

/// Bytes of a str header for `len` bytes (fixstr, str8, str16, str32).
fn str_header_len(len: usize) -> usize {
    match len {
        0..32 => 1,
        32..256 => 2,
        256..65536 => 3,
        _ => 5,
    }
}

/// Bytes of a bin header (bin8, bin16, bin32).
pub(crate) fn bin_header_len(len: usize) -> usize {
    match len {
        0..256 => 2,
        256..65536 => 3,
        _ => 5,
    }
}

/// Bytes of an array or map header (fix, 16, 32).
pub(crate) fn container_header_len(len: usize) -> usize {
    match len {
        0..16 => 1,
        16..65536 => 3,
        _ => 5,
    }
}

/// Bytes of an integer in the smallest form.
pub(crate) fn int_len(i: Integer) -> usize {
    match (i.as_u64(), i.as_i64()) {
        (Some(u), _) if u < 128 => 1,
        (Some(u), _) if u < 256 => 2,
        (Some(u), _) if u < 65536 => 3,
        (Some(u), _) if u < 1 << 32 => 5,
        (Some(_), _) => 9,
        (None, Some(n)) if n >= -32 => 1,
        (None, Some(n)) if n >= -128 => 2,
        (None, Some(n)) if n >= -32768 => 3,
        (None, Some(n)) if n >= -(1 << 31) => 5,
        _ => 9,
    }
}

/// The exact size [`encode_value`] will write, so a frame is built in one
/// allocation instead of growing (and copying) as it goes.
pub(crate) fn encoded_len(value: &Value) -> usize {
    match value {
        Value::Nil | Value::Bool(_) => 1,
        Value::Int(i) => int_len(*i),
        Value::F32(_) => 5,
        Value::F64(_) => 9,
        Value::Str(s) => str_header_len(s.as_bytes().len()) + s.as_bytes().len(),
        Value::Bin(b) => bin_header_len(b.len()) + b.len(),
        Value::Array(items) => {
            container_header_len(items.len()) + items.iter().map(encoded_len).sum::<usize>()
        }
        Value::Map(entries) => {
            container_header_len(entries.len())
                + entries
                    .iter()
                    .map(|(k, v)| encoded_len(k) + encoded_len(v))
                    .sum::<usize>()
        }
    }
}

/// Appends the integer in the smallest form, unsigned forms for non-negative
/// values and signed forms for negative ones, as py2p's u-msgpack writes it.
pub(crate) fn write_int<B: BufMut>(out: &mut B, i: Integer) {
    let w = &mut out.writer();
    match i.as_u64() {
        Some(u) => infallible(rmp::encode::write_uint(w, u)),
        None => infallible(rmp::encode::write_sint(w, i.as_i64().unwrap_or(i64::MIN))),
    }
}

/// Appends the array header for `len` items.
pub(crate) fn write_array_len<B: BufMut>(out: &mut B, len: usize) -> Result<(), WireError> {
    infallible(rmp::encode::write_array_len(
        &mut out.writer(),
        len_u32(len)?,
    ));
    Ok(())
}

/// Appends a bin.
pub(crate) fn write_bin<B: BufMut>(out: &mut B, data: &[u8]) -> Result<(), WireError> {
    len_u32(data.len())?;
    infallible(rmp::encode::write_bin(&mut out.writer(), data));
    Ok(())
}

/// Appends one value in py2p's forms (str8 for short strings, bin for bytes,
/// float64 for floats, smallest integers).
pub fn encode_value(out: &mut Vec<u8>, value: &Value) -> Result<(), WireError> {
    write_value(out, value)
}

/// [`encode_value`] into any buffer (a frame arena's, or a `Vec`).
pub(crate) fn write_value<B: BufMut>(out: &mut B, value: &Value) -> Result<(), WireError> {
    match value {
        Value::Nil => infallible(rmp::encode::write_nil(&mut out.writer())),
        Value::Bool(b) => infallible(rmp::encode::write_bool(&mut out.writer(), *b)),
        Value::Int(i) => write_int(out, *i),
        Value::F32(x) => infallible(rmp::encode::write_f32(&mut out.writer(), *x)),
        Value::F64(x) => infallible(rmp::encode::write_f64(&mut out.writer(), *x)),
        Value::Str(s) => {
            infallible(rmp::encode::write_str_len(
                &mut out.writer(),
                len_u32(s.as_bytes().len())?,
            ));
            out.put_slice(s.as_bytes());
        }
        Value::Bin(b) => write_bin(out, b)?,
        Value::Array(items) => {
            write_array_len(out, items.len())?;
            for item in items {
                write_value(out, item)?;
            }
        }
        Value::Map(entries) => {
            infallible(rmp::encode::write_map_len(
                &mut out.writer(),
                len_u32(entries.len())?,
            ));
            for (k, v) in entries {
                write_value(out, k)?;
                write_value(out, v)?;
            }
        }
    }
    Ok(())
}
