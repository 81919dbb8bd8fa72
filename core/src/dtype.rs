//! The numeric data types of bands and coordinates: numpy names in, Zarr v3
//! names and fill values out.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Numeric data types we can convert (average).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the names say it: unsigned, signed, float; bits
pub enum DType {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl DType {
    /// From a numpy dtype string (`<u2`, `|u1`, `>f4`…).
    pub fn from_numpy(s: &str) -> Option<DType> {
        let body = s.trim_start_matches(['<', '>', '|', '=']);
        Some(match body {
            "u1" => DType::U8,
            "u2" => DType::U16,
            "u4" => DType::U32,
            "u8" => DType::U64,
            "i1" => DType::I8,
            "i2" => DType::I16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "f4" => DType::F32,
            "f8" => DType::F64,
            _ => return None,
        })
    }
    /// Zarr v3 data type name.
    pub fn v3_name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }
    /// Float type?
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
    /// v3 `fill_value` for a v2 fill (null → 0 for integers, NaN for floats).
    pub fn v3_fill(self, v2_fill: &Value) -> Value {
        match v2_fill {
            Value::Null if self.is_float() => json!("NaN"),
            Value::Null => json!(0),
            Value::String(s) => json!(s),
            Value::Number(n) if self.is_float() => json!(n.as_f64().unwrap_or(0.0)),
            other => other.clone(),
        }
    }
}
