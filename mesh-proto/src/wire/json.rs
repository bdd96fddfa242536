//! The typed JSON form of values used by py2p's vectors and `mesh decode`:
//! `{"bin": hex}`, `{"str": s}`, `{"int": "decimal"}`, `{"float": repr}`,
//! `{"map": [[k, v], ...]}`, arrays as arrays, nil/true/false as JSON.

use bytes::Bytes;
use serde_json::{Value as Json, json};

use super::{Decoded, Integer, Value};

/// A value in typed JSON.
///
/// ```
/// use mesh_proto::wire::{json::to_json, Value};
/// assert_eq!(to_json(&Value::from(-3i64)).to_string(), r#"{"int":"-3"}"#);
/// ```
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!({ "int": i.to_string() }),
        Value::F32(x) => json!({ "float": python_float_repr(f64::from(*x)) }),
        Value::F64(x) => json!({ "float": python_float_repr(*x) }),
        Value::Str(s) => json!({ "str": s.as_str() }),
        Value::Bin(b) => json!({ "bin": hex(b) }),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => json!({
            "map": entries.iter().map(|(k, v)| json!([to_json(k), to_json(v)])).collect::<Vec<_>>()
        }),
    }
}

/// Reads a value back from typed JSON (floats become float64, as py2p writes them).
pub fn from_json(json: &Json) -> Result<Value, String> {
    match json {
        Json::Null => Ok(Value::Nil),
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::Array(items) => items
            .iter()
            .map(from_json)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Json::Object(obj) if obj.len() == 1 => {
            let (tag, inner) = obj.iter().next().ok_or("empty object")?;
            let text = || {
                inner
                    .as_str()
                    .ok_or_else(|| format!("{tag}: expected a string"))
            };
            match tag.as_str() {
                "int" => text()?
                    .parse::<i128>()
                    .ok()
                    .and_then(Integer::new)
                    .map(Value::Int)
                    .ok_or_else(|| format!("bad int {inner}")),
                "float" => parse_python_float(text()?).map(Value::F64),
                "str" => Ok(Value::from(text()?)),
                "bin" => unhex(text()?).map(|b| Value::Bin(Bytes::from(b))),
                "map" => inner
                    .as_array()
                    .ok_or("map: expected an array")?
                    .iter()
                    .map(|pair| match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => Ok((from_json(k)?, from_json(v)?)),
                        _ => Err(format!("map entry {pair} is not a [k, v] pair")),
                    })
                    .collect::<Result<_, _>>()
                    .map(Value::Map),
                _ => Err(format!("unknown tag {tag}")),
            }
        }
        other => Err(format!("not a typed value: {other}")),
    }
}

/// One decoded frame as `mesh decode` prints it.
pub fn decoded_to_json(d: &Decoded) -> Json {
    let sender = match d.frame.sender_form {
        super::SenderForm::Bin => json!({ "bin": hex(&d.frame.sender) }),
        super::SenderForm::Str => {
            json!({ "str": String::from_utf8_lossy(&d.frame.sender) })
        }
    };
    json!({
        "msg_type": d.frame.msg_type,
        "sender": sender,
        "time": d.frame.time,
        "id": d.id.to_hex(),
        "compression": d.compression.map(|c| c.flag()),
        "payload": d.frame.payload.iter().map(to_json).collect::<Vec<_>>(),
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(format!("bad hex {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| format!("bad hex: {e}")))
        .collect()
}

/// Python's `repr(float)`: the shortest text that reads back the same, with
/// an exponent below 1e-4 and from 1e16 on, `inf`/`nan` spelled Python's way.
///
/// ```
/// use mesh_proto::wire::json::python_float_repr;
/// assert_eq!(python_float_repr(3.5), "3.5");
/// assert_eq!(python_float_repr(1e16), "1e+16");
/// assert_eq!(python_float_repr(1.5e-5), "1.5e-05");
/// assert_eq!(python_float_repr(100.0), "100.0");
/// ```
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde±x".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let frac = &digits[1..];
        let mant = if frac.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{frac}", &digits[..1])
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.unsigned_abs())
    }
}

fn parse_python_float(text: &str) -> Result<f64, String> {
    match text {
        "nan" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|e| format!("bad float {text:?}: {e}")),
    }
}
