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
    let spans = find_pii(text.as_bytes(), kinds);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    write_masked(text.as_bytes(), &spans, &mut out);
    // Whole UTF-8 stretches were replaced by ASCII labels, so this is UTF-8 still.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// A stretch of text to replace: start, end, and the label that replaces it.
pub type Span = (usize, usize, &'static str);

/// Writes `text` to `out` with each of `spans` (in order, not overlapping) replaced by its
/// label.
pub fn write_masked(text: &[u8], spans: &[Span], out: &mut Vec<u8>) {
    let mut at = 0;
    for &(start, end, label) in spans {
        out.extend_from_slice(&text[at..start]);
        out.extend_from_slice(label.as_bytes());
        at = end;
    }
    out.extend_from_slice(&text[at..]);
}

/// The email addresses, card numbers and phone numbers `kinds` selects in `bytes` (UTF-8
/// text), in order; each starts and ends on an ASCII character. Empty (and not allocated) when
/// there are none.
pub fn find_pii(bytes: &[u8], kinds: Kinds) -> Vec<Span> {
    let mut spans = Vec::new();
    find_pii_into(bytes, kinds, &mut spans);
    spans
}

/// As [`find_pii`], into `spans` (emptied first), so that a caller masking many values can
/// keep one vector for all of them.
pub fn find_pii_into(bytes: &[u8], kinds: Kinds, spans: &mut Vec<Span>) {
    spans.clear();
    if kinds.emails {
        emails(bytes, spans);
    }
    if kinds.cards || kinds.phones {
        let emails = spans.len();
        // Runs starting before this are parts of a longer run that was not a number: only a
        // card number written as one is looked for in them ("paid 20 4111 1111 1111 1111"),
        // not a phone number (lists of small numbers would look like phone numbers).
        let mut inside_until = 0;
        let mut at = find::<NumberStart>(bytes, 0);
        while at < bytes.len() {
            let Some(run) = number_run(bytes, at) else {
                at = find::<NumberStart>(bytes, at + 1);
                continue;
            };
            let (start, end) = (at, run.end);
            let overlaps_email = spans[..emails].iter().any(|&(s, e, _)| start < e && s < end);
            let label = if run.in_word || run.too_long || overlaps_email {
                None
            } else if kinds.cards && run.is_card() {
                Some("[CARD]")
            } else if kinds.phones && start >= inside_until && run.is_phone() {
                Some("[PHONE]")
            } else {
                None
            };
            at = match label {
                Some(label) => {
                    spans.push((start, end, label));
                    find::<NumberStart>(bytes, end)
                }
                // The runs starting inside a word's end where it does: none is a number.
                None if run.in_word => find::<NumberStart>(bytes, end.max(start + 1)),
                None => {
                    inside_until = inside_until.max(end);
                    find::<NumberStart>(bytes, run.first_group_end.max(start + 1))
                }
            };
        }
    }
    if !spans.is_sorted() {
        spans.sort_unstable();
    }
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Adds the email addresses in `bytes` to `found`, in order.
fn emails(bytes: &[u8], found: &mut Vec<Span>) {
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
        if start < at && tld_ok && found.last().is_none_or(|&(_, e, _)| e <= start) {
            found.push((start, end, "[EMAIL]"));
            from = end;
        }
    }
}

/// A run of digits with the separators phone and card numbers use (space, dash, dot,
/// parentheses), as written: what tells a card or phone number from other numbers.
#[derive(Debug)]
struct NumberRun {
    /// Where it ends (after its last digit).
    end: usize,
    digits: usize,
    /// The Luhn sums of the digits at even and odd positions from the left, as they are and
    /// doubled (which of them count depends on the parity of the last digit's position).
    plain: [u32; 2],
    doubled: [u32; 2],
    plus: bool,
    /// Only spaces and dashes between the digits (how card numbers are written).
    card_separators: bool,
    /// How many digit groups, the lengths of the first three, and the shortest.
    groups: usize,
    first_groups: [usize; 3],
    shortest_group: usize,
    dots: bool,
    other_separators: bool,
    /// A letter or digit comes right after it: it is part of a word, not a number.
    in_word: bool,
    /// It has more digits than any card or phone number: reading stopped there.
    too_long: bool,
    /// Where its first group of digits ends.
    first_group_end: usize,
}

/// The most digits a card number has (phone numbers have at most 15).
const MAX_DIGITS: usize = 19;

/// Separators seen since the last digit: they count only once a digit follows them (a
/// sentence's full stop does not).
#[derive(Default)]
struct Separators {
    count: usize,
    dots: bool,
    other: bool,
    not_card: bool,
}

/// The number run starting at `start` (a digit, or `+` or `(` before one), unless it starts
/// inside a word.
fn number_run(bytes: &[u8], start: usize) -> Option<NumberRun> {
    let first = bytes[start];
    let starts = first.is_ascii_digit() || (matches!(first, b'+' | b'(') && bytes.get(start + 1).is_some_and(u8::is_ascii_digit));
    if !starts || (start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_')) {
        return None;
    }
    let mut run = NumberRun {
        end: start,
        digits: 0,
        plain: [0; 2],
        doubled: [0; 2],
        plus: first == b'+',
        card_separators: first != b'(',
        groups: 0,
        first_groups: [0; 3],
        shortest_group: usize::MAX,
        dots: false,
        other_separators: first == b'(',
        in_word: false,
        too_long: false,
        first_group_end: start,
    };
    let mut i = if first.is_ascii_digit() { start } else { start + 1 };
    let mut group = 0;
    let mut pending = Separators::default();
    while let Some(&c) = bytes.get(i) {
        if c.is_ascii_digit() {
            if run.digits == MAX_DIGITS {
                run.too_long = true;
                break;
            }
            run.dots |= pending.dots;
            run.other_separators |= pending.other;
            run.card_separators &= !pending.not_card;
            pending = Separators::default();
            let d = u32::from(c - b'0');
            let doubled = if d * 2 > 9 { d * 2 - 9 } else { d * 2 };
            run.plain[run.digits % 2] += d;
            run.doubled[run.digits % 2] += doubled;
            run.digits += 1;
            group += 1;
            i += 1;
            run.end = i;
        } else if matches!(c, b' ' | b'-' | b'.' | b'(' | b')') && pending.count < 2 {
            if group > 0 {
                run.push_group(group);
                group = 0;
            }
            pending.dots |= c == b'.';
            pending.other |= matches!(c, b'(' | b')');
            pending.not_card |= !matches!(c, b' ' | b'-');
            pending.count += 1;
            i += 1;
        } else {
            break;
        }
    }
    if group > 0 {
        run.push_group(group);
    }
    run.in_word = !run.too_long && bytes.get(run.end).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    Some(run)
}

impl NumberRun {
    fn push_group(&mut self, len: usize) {
        if self.groups == 0 {
            self.first_group_end = self.end;
        }
        self.shortest_group = self.shortest_group.min(len);
        if let Some(slot) = self.first_groups.get_mut(self.groups) {
            *slot = len;
        }
        self.groups += 1;
    }

    /// 13–19 digits that pass the Luhn check, or any 16, written unbroken or in groups of
    /// three or more (4-4-4-4, 4-6-5, 4-4-4-4-3) separated by spaces or dashes.
    fn is_card(&self) -> bool {
        self.card_separators && (self.groups == 1 || self.shortest_group >= 3) && (13..=19).contains(&self.digits) && (self.digits == 16 || self.luhn())
    }

    /// The Luhn checksum card numbers carry: from the right, every second digit doubled.
    fn luhn(&self) -> bool {
        let last = (self.digits - 1) % 2;
        (self.plain[last] + self.doubled[1 - last]).is_multiple_of(10)
    }

    fn is_phone(&self) -> bool {
        let long_enough = if self.plus { (8..=15).contains(&self.digits) } else { (10..=15).contains(&self.digits) };
        if !long_enough {
            return false;
        }
        // Dotted runs are phone numbers only as 3.3.4 (an IPv4 address or a decimal is not).
        if self.dots && !self.plus {
            return self.groups == 3 && self.first_groups == [3, 3, 4];
        }
        // A single unbroken run of digits is a phone number only with a leading +.
        self.plus || self.groups > 1 || self.other_separators
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Kinds = Kinds { emails: true, cards: true, phones: true };

    #[test]
    fn cards_in_every_common_layout() {
        for card in ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "6011000990139424", "4222222222222", "30569309025904", "6304000000000000000"] {
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
        assert_eq!(mask_text("4111 1111 1111 1111x and +1 415 555 0100abc", ALL), "4111 1111 1111 1111x and +1 415 555 0100abc", "parts of words");
        assert_eq!(mask_text("4222222222223 and 30569309025905", ALL), "4222222222223 and 30569309025905", "13 and 14 digits failing Luhn");
    }

    #[test]
    fn a_number_right_after_another_is_still_found() {
        assert_eq!(mask_text("paid 20 4111 1111 1111 1111 today", ALL), "paid 20 [CARD] today");
        assert_eq!(mask_text("ids 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22", ALL), "ids 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22");
        assert_eq!(mask_text("12 34 56 78 12 34 56 78", ALL), "12 34 56 78 12 34 56 78", "not a card's layout");
        let digits = "1234567890".repeat(10);
        assert_eq!(mask_text(&format!("n {digits} +1 415 555 0100"), ALL), format!("n {digits} [PHONE]"), "a long digit string is not a number, what follows it may be");
    }
}
