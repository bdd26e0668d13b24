//! Masking inside JSON text without building a tree: the text is checked to be JSON, then
//! scanned once; each string that is a value (not an object key) is masked in place and
//! everything else is copied byte for byte (numbers, spacing and key order stay as written).

use std::borrow::Cow;

use fjord_plugin_sdk::json::serde_json;

use crate::scan::{mask_text, Kinds};

/// `value` with the strings in it masked, or `None` when it is not JSON.
pub fn mask_json(value: &[u8], kinds: Kinds) -> Option<Vec<u8>> {
    serde_json::from_slice::<serde_core::de::IgnoredAny>(value).ok()?;
    let mut out = Vec::with_capacity(value.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(open) = value[at..].iter().position(|&b| b == b'"').map(|p| p + at) {
        // Valid JSON: every quote outside a string opens one, and it closes.
        let (close, escaped) = string_end(value, open)?;
        at = close + 1;
        let is_key = value[at..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
        if is_key {
            continue;
        }
        // Without escapes the raw text is the string.
        let text: Cow<'_, str> = if escaped {
            Cow::Owned(serde_json::from_slice(&value[open..=close]).ok()?)
        } else {
            Cow::Borrowed(std::str::from_utf8(&value[open + 1..close]).ok()?)
        };
        let Cow::Owned(masked) = mask_text(&text, kinds) else { continue };
        out.extend_from_slice(&value[copied..open]);
        if escaped {
            out.extend_from_slice(&serde_json::to_vec(&masked).ok()?);
        } else {
            // Masking only puts plain labels into text that needed no escaping.
            out.push(b'"');
            out.extend_from_slice(masked.as_bytes());
            out.push(b'"');
        }
        copied = close + 1;
    }
    out.extend_from_slice(&value[copied..]);
    Some(out)
}

/// The closing quote of the string opening at `open`, and whether the string holds escapes.
fn string_end(value: &[u8], open: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = open + 1;
    loop {
        match *value.get(i)? {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mask_json;
    use crate::scan::Kinds;

    const ALL: Kinds = Kinds { emails: true, cards: true, phones: true };

    fn masked(text: &str) -> Option<String> {
        mask_json(text.as_bytes(), ALL).map(|b| String::from_utf8(b).unwrap_or_default())
    }

    #[test]
    fn values_are_masked_keys_numbers_and_layout_kept() {
        let text = "{ \"ann@example.com\" : \"mail ann@example.com\",\n  \"n\": 4111111111111111, \"big\": 123456789012345678901234567890, \"x\": [1.0e2, \"4111 1111 1111 1111\"] }";
        let want = "{ \"ann@example.com\" : \"mail [EMAIL]\",\n  \"n\": 4111111111111111, \"big\": 123456789012345678901234567890, \"x\": [1.0e2, \"[CARD]\"] }";
        assert_eq!(masked(text).as_deref(), Some(want));
    }

    #[test]
    fn escaped_strings_are_unescaped_masked_and_escaped_again() {
        let out = masked(r#"{"note":"say \"hi\" to bob@example.com\n","k\"ey":"x"}"#).unwrap();
        assert_eq!(out, r#"{"note":"say \"hi\" to [EMAIL]\n","k\"ey":"x"}"#);
    }

    #[test]
    fn what_is_not_json_is_none() {
        assert_eq!(masked(r#"{"a": "unterminated}"#), None);
        assert_eq!(masked("bob@example.com"), None);
        assert_eq!(masked(r#"{"a":1} trailing"#), None);
    }
}
