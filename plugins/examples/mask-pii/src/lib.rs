//! `mask-pii`: replaces email addresses with `[EMAIL]`, payment card numbers with `[CARD]` and
//! phone numbers with `[PHONE]` in each record's value. A value that is a JSON object or
//! array is masked inside its strings (not its keys) and stays the same JSON otherwise, byte
//! for byte; any other value is masked as text. Record keys and headers are left alone.
//!
//! Settings (all optional): `emails`, `cards`, `phones` (`true`/`false`, default `true`).

mod find;
mod json;
mod rewrite;
mod scan;

use fjord_plugin_sdk::{Config, Output, Record, Transform};

use rewrite::Rewrite;

pub use json::mask_json;
pub use scan::{mask_text, Kinds};

/// The masker, with which kinds of data it masks.
pub struct MaskPii {
    kinds: Kinds,
    /// Kept from one value to the next.
    scratch: json::Scratch,
}

fn flag(config: &Config, key: &str) -> Result<bool, String> {
    match config.get(key) {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("{key} must be true or false, got {other:?}")),
    }
}

impl Transform for MaskPii {
    fn init(config: &Config) -> Result<Self, String> {
        for (key, _) in config.entries() {
            if !matches!(key.as_str(), "emails" | "cards" | "phones") {
                return Err(format!("unknown setting {key:?}; mask-pii takes emails, cards and phones (true/false)"));
            }
        }
        Ok(Self::new(Kinds { emails: flag(config, "emails")?, cards: flag(config, "cards")?, phones: flag(config, "phones")? }))
    }

    fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
        // A value with nothing to mask is passed on as it is, not copied.
        let output = Output::forward(record);
        out.push(match record.value.and_then(|value| self.mask_value(value)) {
            Some(masked) => output.with_value(masked),
            None => output,
        });
        Ok(())
    }
}

impl MaskPii {
    /// A masker of `kinds`.
    pub fn new(kinds: Kinds) -> Self {
        Self { kinds, scratch: json::Scratch::default() }
    }

    /// The masked value, or `None` when nothing in it needed masking.
    pub fn mask_value(&mut self, value: &[u8]) -> Option<Vec<u8>> {
        let looks_like_json = value.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| matches!(b, b'{' | b'['));
        if looks_like_json {
            if let Some(masked) = json::mask_json_with(value, self.kinds, &mut self.scratch) {
                return masked;
            }
        }
        // Text (or bytes that are not UTF-8: masked where they are, the rest kept).
        mask_bytes(value, self.kinds, &mut self.scratch.spans)
    }
}

/// Masks the UTF-8 stretches of `value`, keeping the bytes that are not UTF-8 as they are;
/// `None` when nothing was masked.
fn mask_bytes(value: &[u8], kinds: Kinds, spans: &mut Vec<scan::Span>) -> Option<Vec<u8>> {
    let mut rewrite = Rewrite::new(value);
    let mut at = 0;
    for chunk in value.utf8_chunks() {
        let text = chunk.valid().as_bytes();
        scan::find_pii_into(text, kinds, spans);
        if !spans.is_empty() {
            scan::write_masked(text, spans, rewrite.replace(at, at + text.len()));
        }
        at += text.len() + chunk.invalid().len();
    }
    rewrite.finish()
}

fjord_plugin_sdk::transform!(MaskPii);

#[cfg(test)]
mod tests {
    use super::MaskPii;
    use fjord_plugin_sdk::testing::run;

    fn mask(value: &str) -> String {
        run::<MaskPii>(&[], [value]).unwrap()[0].value_str().unwrap().to_string()
    }

    #[test]
    fn text_loses_emails_cards_and_phones() {
        let out = mask("Ann <ann.lee+news@mail.example.co.uk> paid with 4111 1111 1111 1111, call +44 20 7946 0958");
        assert_eq!(out, "Ann <[EMAIL]> paid with [CARD], call [PHONE]");
    }

    #[test]
    fn json_strings_are_masked_and_the_value_stays_json() {
        let out = mask(r#"{"user":{"email":"bob@example.com","card":"5500-0000-0000-0004"},"n":4111111111111111,"notes":["tel (555) 123-4567"]}"#);
        let v: fjord_plugin_sdk::json::Value = fjord_plugin_sdk::json::serde_json::from_str(&out).unwrap();
        assert_eq!(v["user"]["email"], "[EMAIL]");
        assert_eq!(v["user"]["card"], "[CARD]");
        assert_eq!(v["notes"][0], "tel [PHONE]");
        assert_eq!(v["n"], 4111111111111111u64, "numbers are not strings: left alone");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_around_what_is_masked() {
        assert_eq!(super::mask_bytes(b"\xffcall 555-123-4567\xfe ok", super::Kinds { emails: true, cards: true, phones: true }, &mut Vec::new()).as_deref(), Some(&b"\xffcall [PHONE]\xfe ok"[..]));
        assert_eq!(super::mask_bytes(b"\xffnothing here\xfe", super::Kinds { emails: true, cards: true, phones: true }, &mut Vec::new()), None);
    }

    #[test]
    fn any_bytes_are_masked_without_a_panic_and_masked_again_unchanged() {
        let mut masker = MaskPii::new(super::Kinds { emails: true, cards: true, phones: true });
        let alphabet = b"0123456789 -.()+@_aZ.\"{}[]:,\\\n\xc3\xa9\xff";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut value = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for i in 0..(state % 64) {
                value.push(alphabet[((state >> (i % 48)) as usize + i as usize * 7) % alphabet.len()]);
            }
            let masked = masker.mask_value(&value).unwrap_or_else(|| value.clone());
            let again = masker.mask_value(&masked);
            assert!(again.is_none() || again.as_deref() == Some(&masked[..]), "{:?} -> {:?}", String::from_utf8_lossy(&value), String::from_utf8_lossy(&masked));
        }
    }

    #[test]
    fn ordinary_numbers_dates_and_addresses_stay() {
        let text = "order 12345 on 2026-11-30 from 192.168.10.200 at 12:30, total 99.95";
        assert_eq!(mask(text), text);
    }

    #[test]
    fn settings_choose_what_is_masked_and_bad_ones_are_refused() {
        let out = run::<MaskPii>(&[("phones", "false")], ["a@b.io +1 415 555 0100"]).unwrap();
        assert_eq!(out[0].value_str(), Some("[EMAIL] +1 415 555 0100"));
        assert!(run::<MaskPii>(&[("emails", "maybe")], ["x"]).unwrap_err().contains("true or false"));
        assert!(run::<MaskPii>(&[("ssn", "true")], ["x"]).unwrap_err().contains("unknown setting"));
    }
}
