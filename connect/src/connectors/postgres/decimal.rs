//! PostgreSQL `numeric` values as Connect data, as Debezium's `decimal.handling.mode` chooses:
//! `precise` (its default) — Connect's `Decimal`, the unscaled value as big-endian two's
//! complement bytes with the column's scale as a schema parameter, or for a `numeric` without a
//! declared scale Debezium's `VariableScaleDecimal`, a struct of the value's own scale and
//! bytes; `double`, a 64-bit float; or `string`, the text PostgreSQL prints.
//!
//! The sink turns a Decimal back into text ([`to_text`]) that PostgreSQL reads exactly.
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
    let scale = scale_of(schema);
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
        negate(magnitude.iter_mut());
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

/// A Decimal schema's scale (0 when it names none).
pub fn scale_of(schema: &Schema) -> u32 {
    schema.parameters.iter().find(|(k, _)| k == "scale").and_then(|(_, v)| v.parse().ok()).unwrap_or(0)
}

/// Two's complement negation of an integer's bytes, given least significant first.
fn negate<'a>(least_significant_first: impl Iterator<Item = &'a mut u8>) {
    let mut carry = true;
    for byte in least_significant_first {
        *byte = !*byte;
        if carry {
            let (sum, overflow) = byte.overflowing_add(1);
            *byte = sum;
            carry = overflow;
        }
    }
}

/// The most bytes a Decimal may have: PostgreSQL's numeric holds at most 147,455 digits
/// (about 61 KiB of binary); longer bytes are refused rather than converted at length.
const MAX_DECIMAL_BYTES: usize = 64 * 1024;

/// A Connect Decimal (big-endian two's complement unscaled value) as decimal text.
pub fn to_text(bytes: &[u8], scale: u32) -> Result<String, String> {
    if bytes.len() > MAX_DECIMAL_BYTES {
        return Err(format!("a decimal of {} bytes is longer than any PostgreSQL numeric", bytes.len()));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude = bytes.to_vec();
    if negative {
        negate(magnitude.iter_mut().rev());
    }
    // Big-endian 32-bit limbs, divided by 10^9 for nine digits at a time.
    let pad = (4 - magnitude.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(0, pad).chain(magnitude).collect();
    let mut limbs: Vec<u32> = padded.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    let mut digits: Vec<u8> = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut remainder = 0u64;
        for limb in limbs.iter_mut() {
            let acc = (remainder << 32) | u64::from(*limb);
            *limb = (acc / 1_000_000_000) as u32;
            remainder = acc % 1_000_000_000;
        }
        let first_nonzero = limbs.iter().position(|&l| l != 0).unwrap_or(limbs.len());
        limbs.drain(..first_nonzero);
        // Nine digits, least significant first (the last chunk's leading zeros trimmed below).
        for _ in 0..9 {
            digits.push(b'0' + (remainder % 10) as u8);
            remainder /= 10;
        }
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let scale = usize::try_from(scale).unwrap_or(0);
    while digits.len() <= scale {
        digits.push(b'0');
    }
    let mut text: String = digits.iter().rev().map(|&d| char::from(d)).collect();
    if scale > 0 {
        text.insert(text.len() - scale, '.');
    }
    if negative {
        text.insert(0, '-');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(to_text(&bytes, 3).unwrap(), text);
        }
    }

    #[test]
    fn connect_decimals_are_written_exactly() {
        assert_eq!(to_text(&[0x04, 0xD2], 2).unwrap(), "12.34");
        assert_eq!(to_text(&[0xFB, 0x2E], 2).unwrap(), "-12.34");
        assert_eq!(to_text(&[0x05], 3).unwrap(), "0.005");
        assert_eq!(to_text(&[0x3B, 0x9A, 0xCA, 0x00], 0).unwrap(), "1000000000");
        assert_eq!(to_text(&[0x00], 2).unwrap(), "0.00");
        assert_eq!(to_text(&[], 0).unwrap(), "0");
        assert!(to_text(&vec![0x7f; 100_000], 0).unwrap_err().contains("longer than any PostgreSQL numeric"));
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
