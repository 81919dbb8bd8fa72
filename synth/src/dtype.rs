//! numpy data types as a `.zarray` names them (`<u2`, `>f8`, `<U7`,
//! `<M8[ns]`, …), and values converted to their little-endian bytes: one
//! element, a fill value, or a row of generated values.

use serde_json::Value;

/// Numeric element types (integers, floats, booleans) by size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Num {
    U1,
    U2,
    U4,
    U8,
    I1,
    I2,
    I4,
    I8,
    F4,
    F8,
    Bool,
}

/// What the elements of a numpy type are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumpyKind {
    /// Numbers and booleans.
    Num(Num),
    /// numpy `<U n`: UTF-32, `n` characters.
    Str(usize),
    /// numpy `|S n`: bytes.
    Bytes(usize),
    /// numpy `M8[unit]`: int64 counts of `unit` (nanoseconds per unit).
    DateTime(i64),
    /// Anything else: zeros of this size.
    Other(usize),
}

/// A numpy data type string, parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumpyType {
    /// The elements.
    pub(crate) dt: NumpyKind,
    /// `>`: stored big-endian.
    pub(crate) big_endian: bool,
}

impl NumpyType {
    /// `<u2`, `>f8`, `|b1`, `<U7`, `|S5`, `<M8[ns]`, …; `None` for what is
    /// not a numpy type string.
    pub(crate) fn parse(s: &str) -> Option<NumpyType> {
        let mut chars = s.chars();
        let order = chars.next()?;
        let big_endian = order == '>';
        if !matches!(order, '<' | '>' | '|' | '=') {
            return None;
        }
        let rest = &s[1..];
        let kind = rest.chars().next()?;
        let tail = &rest[1..];
        let size = tail.split('[').next().unwrap_or("").parse::<usize>().ok();
        let dt = match (kind, size) {
            ('u', Some(1)) => NumpyKind::Num(Num::U1),
            ('u', Some(2)) => NumpyKind::Num(Num::U2),
            ('u', Some(4)) => NumpyKind::Num(Num::U4),
            ('u', Some(8)) => NumpyKind::Num(Num::U8),
            ('i', Some(1)) => NumpyKind::Num(Num::I1),
            ('i', Some(2)) => NumpyKind::Num(Num::I2),
            ('i', Some(4)) => NumpyKind::Num(Num::I4),
            ('i', Some(8)) => NumpyKind::Num(Num::I8),
            ('f', Some(4)) => NumpyKind::Num(Num::F4),
            ('f', Some(8)) => NumpyKind::Num(Num::F8),
            ('b', Some(1)) => NumpyKind::Num(Num::Bool),
            ('U', Some(n)) => NumpyKind::Str(n),
            ('S', Some(n)) => NumpyKind::Bytes(n),
            ('M', Some(8)) => {
                let unit = tail.split('[').nth(1).map(|u| u.trim_end_matches(']'));
                let ns = match unit {
                    Some("s") => 1_000_000_000,
                    Some("ms") => 1_000_000,
                    Some("us") => 1_000,
                    Some("ns") | None => 1,
                    Some(_) => 1,
                };
                NumpyKind::DateTime(ns)
            }
            (_, Some(n)) => NumpyKind::Other(n),
            (_, None) => return None,
        };
        Some(NumpyType { dt, big_endian })
    }

    /// Bytes per element.
    pub(crate) fn size(&self) -> usize {
        match self.dt {
            NumpyKind::Num(n) => match n {
                Num::U1 | Num::I1 | Num::Bool => 1,
                Num::U2 | Num::I2 => 2,
                Num::U4 | Num::I4 | Num::F4 => 4,
                Num::U8 | Num::I8 | Num::F8 => 8,
            },
            NumpyKind::Str(n) => 4 * n,
            NumpyKind::Bytes(n) | NumpyKind::Other(n) => n,
            NumpyKind::DateTime(_) => 8,
        }
    }
}

/// Little-endian bytes of `v` converted (saturating, rounded for integers) to `n`.
#[inline]
pub(crate) fn put_f64(n: Num, dst: &mut [u8], v: f64) {
    match n {
        Num::U1 => dst[0] = v.round() as u8,
        Num::I1 => dst[0] = v.round() as i8 as u8,
        Num::Bool => dst[0] = u8::from(v != 0.0),
        Num::U2 => dst.copy_from_slice(&(v.round() as u16).to_le_bytes()),
        Num::I2 => dst.copy_from_slice(&(v.round() as i16).to_le_bytes()),
        Num::U4 => dst.copy_from_slice(&(v.round() as u32).to_le_bytes()),
        Num::I4 => dst.copy_from_slice(&(v.round() as i32).to_le_bytes()),
        Num::U8 => dst.copy_from_slice(&(v.round() as u64).to_le_bytes()),
        Num::I8 => dst.copy_from_slice(&(v.round() as i64).to_le_bytes()),
        Num::F4 => dst.copy_from_slice(&(v as f32).to_le_bytes()),
        Num::F8 => dst.copy_from_slice(&v.to_le_bytes()),
    }
}

#[inline]
pub(crate) fn put_i64(n: Num, dst: &mut [u8], v: i64) {
    match n {
        Num::U8 => dst.copy_from_slice(&(v as u64).to_le_bytes()),
        Num::I8 => dst.copy_from_slice(&v.to_le_bytes()),
        _ => put_f64(n, dst, v as f64),
    }
}

/// One element of the fill value, in little-endian order (zeros when `null`).
pub(crate) fn fill_bytes(dtype: &NumpyType, fill: &Value) -> Vec<u8> {
    let mut out = vec![0u8; dtype.size()];
    if let NumpyKind::Num(n) = dtype.dt {
        let v = match fill {
            Value::Number(x) => {
                if let (Some(i), Num::I8 | Num::U8) = (x.as_i64(), n) {
                    put_i64(n, &mut out, i);
                    return out;
                }
                x.as_f64()
            }
            Value::String(s) => match s.as_str() {
                "NaN" | "nan" => Some(f64::NAN),
                "Infinity" | "inf" => Some(f64::INFINITY),
                "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        if let Some(v) = v {
            put_f64(n, &mut out, v);
        }
    } else if let (NumpyKind::DateTime(_), Value::Number(x)) = (dtype.dt, fill) {
        if let Some(i) = x.as_i64() {
            out.copy_from_slice(&i.to_le_bytes());
        }
    }
    out
}

/// Write `f(i)` for columns `lo..hi` of one row, converting to `num`.
#[inline(always)]
pub(crate) fn write_row<F: Fn(usize) -> f32>(num: Num, row: &mut [u8], lo: usize, hi: usize, f: F) {
    match num {
        Num::U1 => row[lo..hi]
            .iter_mut()
            .enumerate()
            .for_each(|(k, d)| *d = f(lo + k) as u8),
        Num::I1 => row[lo..hi]
            .iter_mut()
            .enumerate()
            .for_each(|(k, d)| *d = f(lo + k) as i8 as u8),
        Num::Bool => row[lo..hi]
            .iter_mut()
            .enumerate()
            .for_each(|(k, d)| *d = u8::from(f(lo + k) != 0.0)),
        Num::U2 => put_row::<2, _>(row, lo, hi, |i| (f(i) as u16).to_le_bytes()),
        Num::I2 => put_row::<2, _>(row, lo, hi, |i| (f(i) as i16).to_le_bytes()),
        Num::U4 => put_row::<4, _>(row, lo, hi, |i| (f(i) as u32).to_le_bytes()),
        Num::I4 => put_row::<4, _>(row, lo, hi, |i| (f(i) as i32).to_le_bytes()),
        Num::F4 => put_row::<4, _>(row, lo, hi, |i| f(i).to_le_bytes()),
        Num::U8 => put_row::<8, _>(row, lo, hi, |i| (f(i) as u64).to_le_bytes()),
        Num::I8 => put_row::<8, _>(row, lo, hi, |i| (f(i) as i64).to_le_bytes()),
        Num::F8 => put_row::<8, _>(row, lo, hi, |i| f64::from(f(i)).to_le_bytes()),
    }
}

#[inline(always)]
fn put_row<const N: usize, G: Fn(usize) -> [u8; N]>(row: &mut [u8], lo: usize, hi: usize, g: G) {
    for (k, d) in row[lo * N..hi * N].chunks_exact_mut(N).enumerate() {
        d.copy_from_slice(&g(lo + k));
    }
}
