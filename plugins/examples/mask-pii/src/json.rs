//! Masking inside JSON text in one pass, without building a tree: the text is checked against
//! JSON's grammar (RFC 8259) as it is read, each string that is a value (not an object key)
//! and may hold personal data is masked in place, and everything else is copied byte for byte
//! (numbers, spacing and key order stay as written). Strings are stepped over 16 bytes at a
//! time (`find`); only those holding an `@` or a digit are looked at closely.

use std::borrow::Cow;

use fjord_plugin_sdk::json::serde_json;

use crate::find::{find, InString};
use crate::rewrite::Rewrite;
use crate::scan::{find_pii_into, mask_text, write_masked, Kinds, Span};

/// What masking a value needs besides its output, kept from one value to the next so that
/// masking one allocates nothing but its result.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The open containers, innermost last: `{` or `[`.
    open: Vec<u8>,
    /// The personal data found in a string.
    pub(crate) spans: Vec<Span>,
}

/// `value` with the strings in it masked (`Some(None)` when nothing needed masking), or `None`
/// when it is not JSON (or not UTF-8).
pub fn mask_json(value: &[u8], kinds: Kinds) -> Option<Option<Vec<u8>>> {
    mask_json_with(value, kinds, &mut Scratch::default())
}

/// As [`mask_json`], with `scratch` kept from an earlier value.
pub fn mask_json_with(value: &[u8], kinds: Kinds, scratch: &mut Scratch) -> Option<Option<Vec<u8>>> {
    let mut rewrite = Rewrite::new(value);
    let Scratch { open, spans } = scratch;
    open.clear();
    let mut at = skip_space(value, 0);
    loop {
        // A value starts at `at`.
        match *value.get(at)? {
            b'{' | b'[' => {
                let container = value[at];
                open.push(container);
                at = skip_space(value, at + 1);
                let close = if container == b'{' { b'}' } else { b']' };
                if value.get(at) == Some(&close) {
                    open.pop();
                    at += 1;
                } else {
                    if container == b'{' {
                        at = key(value, at)?;
                    }
                    continue;
                }
            }
            b'"' => {
                let string = string(value, at, true)?;
                if string.candidates {
                    mask_string(&mut rewrite, value, at, &string, kinds, spans)?;
                }
                at = string.close + 1;
            }
            b'-' | b'0'..=b'9' => at = number(value, at)?,
            b't' => at = literal(value, at, b"true")?,
            b'f' => at = literal(value, at, b"false")?,
            b'n' => at = literal(value, at, b"null")?,
            _ => return None,
        }
        // After a value: the next one, or the ends of containers.
        loop {
            at = skip_space(value, at);
            let Some(&container) = open.last() else {
                return (at == value.len()).then(|| rewrite.finish());
            };
            match (container, *value.get(at)?) {
                (b'{', b',') => {
                    at = key(value, skip_space(value, at + 1))?;
                    break;
                }
                (b'[', b',') => {
                    at = skip_space(value, at + 1);
                    break;
                }
                (b'{', b'}') | (b'[', b']') => {
                    open.pop();
                    at += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Masks the string opening at `open`, if anything in it needs masking.
fn mask_string(rewrite: &mut Rewrite<'_>, value: &[u8], open: usize, string: &JsonString, kinds: Kinds, spans: &mut Vec<Span>) -> Option<()> {
    let raw = &value[open..=string.close];
    if string.escaped {
        // Unescaped, masked, and escaped again.
        let text: String = serde_json::from_slice(raw).ok()?;
        let Cow::Owned(masked) = mask_text(&text, kinds) else { return Some(()) };
        let escaped = serde_json::to_vec(&masked).ok()?;
        rewrite.replace(open, string.close + 1).extend_from_slice(&escaped);
    } else {
        // Without escapes the raw text is the string (checked to be UTF-8 as it was read),
        // and masking only puts plain labels into it.
        let text = &raw[1..raw.len() - 1];
        find_pii_into(text, kinds, spans);
        if spans.is_empty() {
            return Some(());
        }
        let out = rewrite.replace(open, string.close + 1);
        out.push(b'"');
        write_masked(text, spans, out);
        out.push(b'"');
    }
    Some(())
}

fn skip_space(value: &[u8], mut at: usize) -> usize {
    while value.get(at).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// An object's key at `at` and the colon after it: where its value starts.
fn key(value: &[u8], at: usize) -> Option<usize> {
    if value.get(at) != Some(&b'"') {
        return None;
    }
    let after = skip_space(value, string(value, at, false)?.close + 1);
    (value.get(after) == Some(&b':')).then(|| skip_space(value, after + 1))
}

/// A string read through.
struct JsonString {
    /// Its closing quote.
    close: usize,
    /// It holds escapes.
    escaped: bool,
    /// It holds an `@` or a digit: personal data may be in it.
    candidates: bool,
}

/// The string opening at `open`, checked: closed, no control characters, valid escapes, and
/// UTF-8. `look` says whether to note candidates for masking (not for keys).
fn string(value: &[u8], open: usize, look: bool) -> Option<JsonString> {
    let mut found = JsonString { close: 0, escaped: false, candidates: false };
    let mut non_ascii = false;
    let mut at = open + 1;
    loop {
        // Once something was noted, the search no longer stops for more of it.
        at = match (look && !found.candidates, !non_ascii) {
            (true, true) => find::<InString<true, true>>(value, at),
            (true, false) => find::<InString<true, false>>(value, at),
            (false, true) => find::<InString<false, true>>(value, at),
            (false, false) => find::<InString<false, false>>(value, at),
        };
        match *value.get(at)? {
            b'"' => break,
            b'\\' => {
                found.escaped = true;
                at = escape(value, at)?;
            }
            b'@' | b'0'..=b'9' => {
                found.candidates = true;
                at += 1;
            }
            0x80.. => {
                non_ascii = true;
                at += 1;
            }
            _ => return None, // a control character
        }
    }
    found.close = at;
    if non_ascii {
        std::str::from_utf8(&value[open + 1..at]).ok()?;
    }
    Some(found)
}

/// Past the escape at `at` (a backslash), which must be one JSON has.
fn escape(value: &[u8], at: usize) -> Option<usize> {
    match *value.get(at + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(at + 2),
        b'u' => value.get(at + 2..at + 6)?.iter().all(u8::is_ascii_hexdigit).then_some(at + 6),
        _ => None,
    }
}

/// Past the number at `at`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(value: &[u8], mut at: usize) -> Option<usize> {
    let digits = |from: usize| from + value[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    if value.get(at) == Some(&b'-') {
        at += 1;
    }
    match value.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at = digits(at),
        _ => return None,
    }
    if value.get(at) == Some(&b'.') {
        let end = digits(at + 1);
        if end == at + 1 {
            return None;
        }
        at = end;
    }
    if matches!(value.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(value.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let end = digits(at);
        if end == at {
            return None;
        }
        at = end;
    }
    Some(at)
}

fn literal(value: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    (value.get(at..at + word.len())? == word).then_some(at + word.len())
}

#[cfg(test)]
mod tests {
    use super::mask_json;
    use crate::scan::Kinds;

    const ALL: Kinds = Kinds { emails: true, cards: true, phones: true };

    fn masked(text: &str) -> Option<String> {
        mask_json(text.as_bytes(), ALL).map(|b| b.map_or_else(|| text.to_string(), |b| String::from_utf8(b).unwrap_or_default()))
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
        assert_eq!(mask_json(b"[\"caf\xc3\"]", ALL), None, "not UTF-8");
    }

    /// A small xorshift generator: the same cases on every run.
    struct Cases(u64);

    impl Cases {
        fn next(&mut self, below: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % below as u64) as usize
        }
    }

    /// The grammar check agrees with serde_json's on texts made by cutting, repeating and
    /// changing bytes of valid JSON (kept under serde_json's nesting limit and away from
    /// `\uD800`-style escapes, which serde_json only checks when it decodes a string).
    #[test]
    fn accepts_exactly_what_serde_json_accepts() {
        let seeds = [
            r#"{"a": [1, -2.5e+3, 0, true, false, null, "x@y.io", {"b": {}}], "c": "tel 555 123 4567", "e": "\n\"\\\/\b\f\r\t\u00e9"}"#,
            "[ \"caf\u{e9} 4111 1111 1111 1111\" , 0.25E-2 , [] , {} , \"\" ]",
            r#"{"k":"v"}"#,
            "  -0.0  ",
        ];
        let alphabet = b"{}[]\":,. -+0123456789eE\\ntrufalsx@\t\n\r\x01\xc3\xa9\xff";
        let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for round in 0..20_000 {
            let mut text = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..=cases.next(3) {
                let at = cases.next(text.len() + 1);
                match cases.next(4) {
                    0 if at < text.len() => text[at] = alphabet[cases.next(alphabet.len())],
                    1 => text.insert(at, alphabet[cases.next(alphabet.len())]),
                    2 if at < text.len() => drop(text.remove(at)),
                    _ => text.truncate(at),
                }
            }
            let serde = fjord_plugin_sdk::json::serde_json::from_slice::<serde_core::de::IgnoredAny>(&text).is_ok() && std::str::from_utf8(&text).is_ok();
            let ours = mask_json(&text, ALL).is_some();
            assert_eq!(ours, serde, "{:?}", String::from_utf8_lossy(&text));
            accepted += usize::from(ours);
        }
        assert!(accepted > 1_000, "the cases should hold enough valid JSON: {accepted}");
    }
}
