//! PostgreSQL `numeric` values as Connect data, as Debezium's `decimal.handling.mode` chooses:
//! `precise` (its default) — Connect's `Decimal`, the unscaled value as big-endian two's
//! complement bytes with the column's scale as a schema parameter, or for a `numeric` without a
//! declared scale Debezium's `VariableScaleDecimal`, a struct of the value's own scale and
//! bytes; `double`, a 64-bit float; or `string`, the text PostgreSQL prints.
//!
//! `NaN` and the infinities have no exact form: `precise` gives null for them (as Debezium
//! does), `double` the float, `string` the text.

use crate::data::{logical, Field, Schema, SchemaType, Value};

/// Debezium's struct for a decimal whose scale varies from value to value.
pub const VARIABLE_SCALE: &str = "io.debezium.data.VariableScaleDecimal";

/// How numerics are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalMode {
    #[default]
    Precise,
    Double,
    String,
}

impl DecimalMode {
    /// From a `decimal.handling.mode` setting (already checked to be one of the three).
    pub fn parse(setting: Option<&str>) -> Self {
        match setting {
            Some("double") => Self::Double,
            Some("string") => Self::String,
            _ => Self::Precise,
        }
    }
}

/// The scale a `numeric(p, s)` type declares (`numeric(p)` declares 0; plain `numeric` none).
fn declared(sql_type: &str) -> Option<(u32, u32)> {
    let args = sql_type.split_once('(')?.1.trim_end_matches(')');
    let mut parts = args.split(',').map(|p| p.trim().parse::<u32>());
    let precision = parts.next()?.ok()?;
    let scale = match parts.next() {
        Some(scale) => scale.ok()?,
        None => 0,
    };
    Some((precision, scale))
}

/// The schema of a `numeric` column of type `sql_type` (as `format_type` writes it).
pub fn schema(sql_type: &str, mode: DecimalMode) -> Schema {
    match (mode, declared(sql_type)) {
        (DecimalMode::String, _) => Schema::of(SchemaType::String),
        (DecimalMode::Double, _) => Schema::of(SchemaType::Float64),
        (DecimalMode::Precise, Some((precision, scale))) => {
            let mut schema = Schema::of(SchemaType::Bytes).named(logical::DECIMAL);
            schema.parameters = vec![("scale".into(), scale.to_string()), ("connect.decimal.precision".into(), precision.to_string())];
            schema
        }
        (DecimalMode::Precise, None) => Schema::structure(
            Some(VARIABLE_SCALE),
            vec![Field { name: "scale".into(), schema: Schema::of(SchemaType::Int32) }, Field { name: "value".into(), schema: Schema::of(SchemaType::Bytes) }],
        ),
    }
}

/// The value of numeric text (`-12.50`, `NaN`, `Infinity`) for a schema from [`schema`] in
/// `precise` mode: `None` when the text is not a number PostgreSQL prints.
pub fn precise_value(text: &str, schema: &Schema) -> Option<Value> {
    if matches!(text, "NaN" | "Infinity" | "-Infinity") {
        return Some(Value::Null);
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let own_scale = u32::try_from(fraction.len()).ok()?;
    if schema.name.as_deref() == Some(VARIABLE_SCALE) {
        let unscaled = twos_complement(negative, whole.bytes().chain(fraction.bytes()));
        return Some(Value::Struct(vec![("scale".into(), Value::Int(i64::from(own_scale))), ("value".into(), Value::Bytes(unscaled))]));
    }
    let scale = schema.parameters.iter().find(|(k, _)| k == "scale").and_then(|(_, v)| v.parse::<u32>().ok()).unwrap_or(0);
    // PostgreSQL prints a column's declared scale; pad or refuse to round, never guess.
    if own_scale > scale && fraction.bytes().skip(scale as usize).any(|b| b != b'0') {
        return None;
    }
    let kept = fraction.bytes().take(scale as usize);
    let padding = std::iter::repeat_n(b'0', (scale - own_scale.min(scale)) as usize);
    Some(Value::Bytes(twos_complement(negative, whole.bytes().chain(kept).chain(padding))))
}

/// Decimal digits as the shortest big-endian two's complement bytes of the integer they spell
/// (negated when `negative`).
fn twos_complement(negative: bool, digits: impl Iterator<Item = u8>) -> Vec<u8> {
    // The magnitude in little-endian 32-bit limbs, nine digits at a time (a numeric may have
    // thousands of digits).
    let mut limbs: Vec<u32> = Vec::new();
    let mut chunk = 0u64;
    let mut chunk_digits = 0u32;
    /// `limbs` × 10^`chunk_digits` + `chunk`.
    fn push(limbs: &mut Vec<u32>, chunk: u64, chunk_digits: u32) {
        let mut carry = chunk;
        let factor = 10u64.pow(chunk_digits);
        for limb in limbs.iter_mut() {
            let product = u64::from(*limb) * factor + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    for digit in digits {
        chunk = chunk * 10 + u64::from(digit - b'0');
        chunk_digits += 1;
        if chunk_digits == 9 {
            push(&mut limbs, chunk, chunk_digits);
            (chunk, chunk_digits) = (0, 0);
        }
    }
    if chunk_digits > 0 {
        push(&mut limbs, chunk, chunk_digits);
    }
    let mut magnitude: Vec<u8> = limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect();
    while magnitude.last() == Some(&0) {
        magnitude.pop();
    }
    if negative && magnitude.iter().any(|&b| b != 0) {
        // Two's complement: invert, add one.
        let mut carry = true;
        for byte in &mut magnitude {
            *byte = !*byte;
            if carry {
                let (sum, overflow) = byte.overflowing_add(1);
                *byte = sum;
                carry = overflow;
            }
        }
        if magnitude.last().is_none_or(|&top| top & 0x80 == 0) {
            magnitude.push(0xff);
        }
    } else if magnitude.last().is_none_or(|&top| top & 0x80 != 0) {
        magnitude.push(0);
    }
    magnitude.reverse();
    // Shortest form: drop leading bytes that only repeat the sign.
    while magnitude.len() > 1 && ((magnitude[0] == 0 && magnitude[1] & 0x80 == 0) || (magnitude[0] == 0xff && magnitude[1] & 0x80 != 0)) {
        magnitude.remove(0);
    }
    magnitude
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::postgres::text::decimal_text;

    fn fixed(scale: u32) -> Schema {
        schema(&format!("numeric(12,{scale})"), DecimalMode::Precise)
    }

    #[test]
    fn fixed_scale_values_are_connect_decimals_with_the_columns_scale() {
        let s = fixed(2);
        assert_eq!(s.name.as_deref(), Some(logical::DECIMAL));
        assert!(s.parameters.contains(&("scale".into(), "2".into())));
        assert_eq!(precise_value("12.34", &s), Some(Value::Bytes(vec![0x04, 0xD2])));
        assert_eq!(precise_value("-12.34", &s), Some(Value::Bytes(vec![0xFB, 0x2E])));
        assert_eq!(precise_value("1.5", &s), Some(Value::Bytes(vec![0x00, 0x96])), "padded to the scale: 150");
        assert_eq!(precise_value("0.00", &s), Some(Value::Bytes(vec![0x00])));
        assert_eq!(precise_value("-1.28", &s), Some(Value::Bytes(vec![0x80])));
        assert_eq!(precise_value("1.28", &s), Some(Value::Bytes(vec![0x00, 0x80])));
        assert_eq!(precise_value("1.234", &s), None, "never rounded");
        assert_eq!(precise_value("NaN", &s), Some(Value::Null));
        assert_eq!(precise_value("12a", &s), None);
    }

    #[test]
    fn every_value_reads_back_as_the_text_it_came_from() {
        let s = fixed(3);
        let long = format!("-{}.001", "9876543210".repeat(40));
        for text in ["0.000", "1.000", "-1.000", "127.999", "-128.000", "32767.123", "-99999999.999", "123456789012345678901234567890.125", "4294967.295", "-4294967.296", &long] {
            let Some(Value::Bytes(bytes)) = precise_value(text, &s) else { panic!("{text}") };
            assert_eq!(decimal_text(&bytes, 3).unwrap(), text);
        }
    }

    #[test]
    fn numerics_without_a_declared_scale_carry_their_own() {
        let s = schema("numeric", DecimalMode::Precise);
        assert_eq!(s.name.as_deref(), Some(VARIABLE_SCALE));
        assert_eq!(precise_value("-0.005", &s), Some(Value::Struct(vec![("scale".into(), Value::Int(3)), ("value".into(), Value::Bytes(vec![0xFB]))])));
        assert_eq!(precise_value("42", &s), Some(Value::Struct(vec![("scale".into(), Value::Int(0)), ("value".into(), Value::Bytes(vec![42]))])));
    }

    #[test]
    fn the_other_modes_are_floats_and_text() {
        assert_eq!(schema("numeric(10,2)", DecimalMode::Double).kind, SchemaType::Float64);
        assert_eq!(schema("numeric", DecimalMode::String).kind, SchemaType::String);
        assert_eq!(declared("numeric(7)"), Some((7, 0)));
    }
}
