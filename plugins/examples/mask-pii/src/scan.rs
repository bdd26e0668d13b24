//! Finding personal data in text: email addresses, payment card numbers (13–19 digits that
//! pass the Luhn check, or any 16), and phone numbers (10–15 digits, or 8–15 after a `+`),
//! each replaced whole so that no part of it survives.

use std::borrow::Cow;

use crate::find::{find, AtSign, NumberStart};

/// Which kinds of data to mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    pub emails: bool,
    pub cards: bool,
    pub phones: bool,
}

/// `text` with every email address, card number and phone number `kinds` selects replaced by
/// `[EMAIL]`, `[CARD]` or `[PHONE]`.
/// Borrowed when nothing was found.
pub fn mask_text(text: &str, kinds: Kinds) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut spans: Vec<(usize, usize, &str)> = Vec::new();
    if kinds.emails {
        spans.extend(emails(bytes).into_iter().map(|(s, e)| (s, e, "[EMAIL]")));
    }
    if kinds.cards || kinds.phones {
        for (start, end, digits, shape) in number_runs(bytes) {
            if spans.iter().any(|&(s, e, _)| start < e && s < end) {
                continue;
            }
            if kinds.cards && shape.card_separators && (13..=19).contains(&digits.len()) && (digits.len() == 16 || luhn(&digits)) {
                spans.push((start, end, "[CARD]"));
            } else if kinds.phones && is_phone(&digits, &shape) {
                spans.push((start, end, "[PHONE]"));
            }
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, label) in spans {
        out.push_str(&text[at..start]);
        out.push_str(label);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Byte ranges of the email addresses in `bytes`.
fn emails(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    loop {
        let at = find::<AtSign>(bytes, from);
        if at == bytes.len() {
            break;
        }
        from = at + 1;
        let mut start = at;
        while start > 0 && is_local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &bytes[at + 1..end];
        let tld_ok = domain.iter().rposition(|&b| b == b'.').is_some_and(|dot| {
            let tld = &domain[dot + 1..];
            tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) && dot > 0
        });
        if start < at && tld_ok && found.last().is_none_or(|&(_, e)| e <= start) {
            found.push((start, end));
            from = end;
        }
    }
    found
}

/// How a run of digits was written.
#[derive(Debug, Default)]
struct Shape {
    plus: bool,
    /// Only spaces and dashes between the digits (how card numbers are written).
    card_separators: bool,
    /// The digit groups' lengths, and whether dots separated them.
    groups: Vec<usize>,
    dots: bool,
    other_separators: bool,
}

/// Runs of digits with the separators phone and card numbers use (space, dash, dot,
/// parentheses), not touching letters or digits on either side: (start, end, digits, shape).
fn number_runs(bytes: &[u8]) -> Vec<(usize, usize, Vec<u8>, Shape)> {
    let mut runs = Vec::new();
    let mut i = find::<NumberStart>(bytes, 0);
    while i < bytes.len() {
        let b = bytes[i];
        let starts = b.is_ascii_digit() || (matches!(b, b'+' | b'(') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !starts || (i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) {
            i = find::<NumberStart>(bytes, i + 1);
            continue;
        }
        let start = i;
        let mut shape = Shape { plus: b == b'+', card_separators: true, ..Shape::default() };
        let mut digits = Vec::new();
        let mut group = 0;
        let mut end = i;
        let mut pending_separators = 0;
        // Separators count only once a digit follows them (a sentence's full stop does not).
        let mut pending = Shape { card_separators: true, ..Shape::default() };
        if matches!(b, b'+' | b'(') {
            shape.other_separators |= b == b'(';
            shape.card_separators &= b != b'(';
            i += 1;
        }
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_digit() {
                shape.dots |= pending.dots;
                shape.other_separators |= pending.other_separators;
                shape.card_separators &= pending.card_separators;
                pending = Shape { card_separators: true, ..Shape::default() };
                digits.push(c);
                group += 1;
                pending_separators = 0;
                i += 1;
                end = i;
            } else if matches!(c, b' ' | b'-' | b'.' | b'(' | b')') && pending_separators < 2 {
                if group > 0 {
                    shape.groups.push(group);
                    group = 0;
                }
                pending.dots |= c == b'.';
                pending.other_separators |= matches!(c, b'(' | b')');
                pending.card_separators &= matches!(c, b' ' | b'-');
                pending_separators += 1;
                i += 1;
            } else {
                break;
            }
        }
        if group > 0 {
            shape.groups.push(group);
        }
        // A closing parenthesis right after the digits belongs to the number only when it
        // opened with one; a letter or digit right after means this is part of a word.
        let touches_word = bytes.get(end).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if !touches_word && !digits.is_empty() {
            runs.push((start, end, digits, shape));
        }
        i = find::<NumberStart>(bytes, end.max(start + 1));
    }
    runs
}

fn is_phone(digits: &[u8], shape: &Shape) -> bool {
    let count = digits.len();
    let long_enough = if shape.plus { (8..=15).contains(&count) } else { (10..=15).contains(&count) };
    if !long_enough {
        return false;
    }
    // Dotted runs are phone numbers only as 3.3.4 (an IPv4 address or a decimal is not).
    if shape.dots && !shape.plus {
        return shape.groups == [3, 3, 4];
    }
    // A single unbroken run of digits is a phone number only with a leading +.
    shape.plus || shape.groups.len() > 1 || shape.other_separators
}

/// The Luhn checksum card numbers carry.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Kinds = Kinds { emails: true, cards: true, phones: true };

    #[test]
    fn cards_in_every_common_layout() {
        for card in ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "6011000990139424"] {
            assert_eq!(mask_text(&format!("card: {card}."), ALL), "card: [CARD].", "{card}");
        }
    }

    #[test]
    fn emails_without_trailing_punctuation() {
        assert_eq!(mask_text("x a.b-c@d-e.example.org. y", ALL), "x [EMAIL]. y");
        assert_eq!(mask_text("not@an address, @alone, a@b", ALL), "not@an address, @alone, a@b");
    }

    #[test]
    fn phones_in_common_layouts() {
        for phone in ["+1 415 555 0100", "(555) 123-4567", "555-123-4567", "555.123.4567", "+442079460958"] {
            assert_eq!(mask_text(&format!("call {phone} now"), ALL), "call [PHONE] now", "{phone}");
        }
    }

    #[test]
    fn long_plain_digit_runs_that_are_not_cards_stay() {
        assert_eq!(mask_text("id 1796001619342", ALL), "id 1796001619342", "a 13-digit timestamp fails Luhn");
        assert_eq!(mask_text("v1.2.3 and 10.0.0.1", ALL), "v1.2.3 and 10.0.0.1");
    }
}
