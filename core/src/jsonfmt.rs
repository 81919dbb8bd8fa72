//! JSON text as zarr-python writes it: two-space indent, and floats printed
//! as Python's `str(float)` (always with a decimal point).

use serde_json::Value;

/// Python `str(float)`: shortest round-trip text with a decimal point.
pub(crate) fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Serialise with two-space indentation (serde_json keeps insertion order).
pub(crate) fn to_pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON values always serialise")
}
