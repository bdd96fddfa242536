//! The msgpack value model of a packet.
//!
//! Strings and byte strings hold [`Bytes`], so a decoded frame's values point
//! into the frame's buffer instead of copying it.

use std::fmt;

use bytes::Bytes;

/// An integer in msgpack's range: every `i64` and every `u64`.
///
/// msgpack has both signed and unsigned 64-bit forms, so neither Rust type
/// alone covers what a peer can send. Non-negative values are always held as
/// unsigned, so equal numbers are equal values. (Held as two 64-bit forms
/// rather than an `i128`: 8-byte alignment keeps [`Value`] small and its moves
/// cheap on the parse path, measured on the decode bench.)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Integer(Repr);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Repr {
    /// Zero and up.
    Unsigned(u64),
    /// Strictly negative.
    Negative(i64),
}

impl Integer {
    /// The smallest value msgpack can carry (`i64::MIN`).
    pub const MIN: Integer = Integer(Repr::Negative(i64::MIN));
    /// The largest value msgpack can carry (`u64::MAX`).
    pub const MAX: Integer = Integer(Repr::Unsigned(u64::MAX));

    /// Makes an integer from any `i128` inside msgpack's range.
    ///
    /// ```
    /// use mesh_proto::wire::Integer;
    /// assert!(Integer::new(-1).is_some());
    /// assert!(Integer::new(u64::MAX as i128 + 1).is_none());
    /// ```
    pub fn new(v: i128) -> Option<Integer> {
        if v >= 0 {
            u64::try_from(v).ok().map(Integer::from)
        } else {
            i64::try_from(v).ok().map(Integer::from)
        }
    }

    /// The value as an `i128` (always fits).
    pub fn get(self) -> i128 {
        match self.0 {
            Repr::Unsigned(u) => i128::from(u),
            Repr::Negative(i) => i128::from(i),
        }
    }

    /// The value as an `i64`, if it fits.
    pub fn as_i64(self) -> Option<i64> {
        match self.0 {
            Repr::Unsigned(u) => i64::try_from(u).ok(),
            Repr::Negative(i) => Some(i),
        }
    }

    /// The value as a `u64`, if it fits.
    pub fn as_u64(self) -> Option<u64> {
        match self.0 {
            Repr::Unsigned(u) => Some(u),
            Repr::Negative(_) => None,
        }
    }
}

impl PartialOrd for Integer {
    fn partial_cmp(&self, other: &Integer) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Integer {
    fn cmp(&self, other: &Integer) -> std::cmp::Ordering {
        self.get().cmp(&other.get())
    }
}

impl fmt::Debug for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Unsigned(u) => fmt::Display::fmt(&u, f),
            Repr::Negative(i) => fmt::Display::fmt(&i, f),
        }
    }
}

macro_rules! integer_from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Integer {
            fn from(v: $t) -> Integer {
                Integer(Repr::Unsigned(u64::from(v)))
            }
        }
    )*};
}
integer_from_unsigned!(u8, u16, u32, u64);

macro_rules! integer_from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Integer {
            fn from(v: $t) -> Integer {
                let v = i64::from(v);
                match u64::try_from(v) {
                    Ok(u) => Integer(Repr::Unsigned(u)),
                    Err(_) => Integer(Repr::Negative(v)),
                }
            }
        }
    )*};
}
integer_from_signed!(i8, i16, i32, i64);

/// A UTF-8 string that shares its storage with the frame it was decoded from.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes that are valid UTF-8.
    pub fn from_bytes(bytes: Bytes) -> Result<Utf8Bytes, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // The constructor checked the bytes; a failure here is impossible, and
        // the fallback keeps this path panic-free anyway.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes (UTF-8).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Utf8Bytes {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Utf8Bytes {
        Utf8Bytes(Bytes::from(s))
    }
}

/// One msgpack value, as found in a packet.
///
/// ```
/// use mesh_proto::wire::Value;
/// let v = Value::array([Value::from("text"), Value::from(&b"raw"[..]), Value::from(-3i64)]);
/// assert_eq!(v.as_array().unwrap().len(), 3);
/// ```
#[derive(Clone, PartialEq)]
pub enum Value {
    /// msgpack nil (Python `None`).
    Nil,
    /// msgpack bool.
    Bool(bool),
    /// Any msgpack integer.
    Int(Integer),
    /// A float32 as received (py2p never writes one, but may receive one).
    F32(f32),
    /// A float64 (what py2p writes for every float).
    F64(f64),
    /// A str (Python `str`).
    Str(Utf8Bytes),
    /// A bin (Python `bytes`).
    Bin(Bytes),
    /// An array (Python `list`/`tuple`).
    Array(Vec<Value>),
    /// A map, in wire order (Python `dict`).
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// An array from any iterator of values.
    pub fn array(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Array(items.into_iter().collect())
    }

    /// The bytes of a str or a bin: how py2p-family peers spell ids, which
    /// may arrive as either.
    pub fn as_str_or_bin(&self) -> Option<&Bytes> {
        match self {
            Value::Str(s) => Some(s.as_bytes()),
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<Integer> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The string, if this is a str.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The bytes, if this is a bin.
    pub fn as_bin(&self) -> Option<&Bytes> {
        match self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::F32(x) => write!(f, "{x:?}f32"),
            Value::F64(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            // `Bytes` prints as `b"..."` already.
            Value::Bin(b) => write!(f, "{b:?}"),
            Value::Array(a) => f.debug_list().entries(a).finish(),
            Value::Map(m) => f
                .debug_map()
                .entries(m.iter().map(|(k, v)| (k, v)))
                .finish(),
        }
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(Integer::from(v))
            }
        }
    )*};
}
value_from_int!(u8, u16, u32, u64, i8, i16, i32, i64);

impl From<Integer> for Value {
    fn from(v: Integer) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v.into())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bin(Bytes::copy_from_slice(v))
    }
}

/// A byte string literal is a bin, as in py2p's `send(b"test")`.
///
/// ```
/// use mesh_proto::wire::Value;
/// assert_eq!(Value::from(b"test"), Value::from(&b"test"[..]));
/// assert_eq!(format!("{:?}", Value::from(b"test")), r#"b"test""#);
/// ```
impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Value {
        Value::Bin(Bytes::copy_from_slice(v))
    }
}

impl<const N: usize> From<[u8; N]> for Value {
    fn from(v: [u8; N]) -> Value {
        Value::Bin(Bytes::copy_from_slice(&v))
    }
}

/// A str equals text; a bin never does (as `'x' != b'x'` in Python 3).
///
/// ```
/// use mesh_proto::wire::Value;
/// assert!(Value::from("x") == "x");
/// assert!(Value::from(b"x") != "x");
/// assert!(Value::from(b"x") == b"x");
/// assert!(Value::from("x") != b"x");
/// ```
impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// A bin equals its bytes; a str never does.
impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bin().is_some_and(|b| b[..] == *other)
    }
}

impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        *self == **other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Value {
    fn eq(&self, other: &[u8; N]) -> bool {
        *self == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Value {
    fn eq(&self, other: &&[u8; N]) -> bool {
        *self == other[..]
    }
}

impl From<Bytes> for Value {
    fn from(v: Bytes) -> Value {
        Value::Bin(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bin(Bytes::from(v))
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(v)
    }
}

/// Packets for `send`, as py2p's `send('a', b'b', 3)`: each argument becomes
/// a [`Value`](crate::wire::Value) (text a str, a byte string a bin).
///
/// ```
/// use mesh_proto::packets;
/// use mesh_proto::wire::Value;
/// let p = packets!["a", b"b", 3];
/// assert_eq!(p, vec![Value::from("a"), Value::from(&b"b"[..]), Value::from(3)]);
/// assert!(p[0] == "a" && p[1] == b"b");
/// ```
#[macro_export]
macro_rules! packets {
    ($($v:expr),* $(,)?) => {
        ::std::vec![$($crate::wire::Value::from($v)),*]
    };
}
