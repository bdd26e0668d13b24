//! A value rewritten in place: stretches of the input replaced one after another, the rest
//! copied as it was. No output is made until the first replacement, so a value with nothing
//! to replace costs no copy.

/// The input, and the output made so far (up to `copied` of the input).
pub struct Rewrite<'a> {
    input: &'a [u8],
    out: Option<Vec<u8>>,
    copied: usize,
}

impl<'a> Rewrite<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, out: None, copied: 0 }
    }

    /// Replaces `input[start..end]` (after every earlier replacement): the input up to `start`
    /// is copied, and the replacement is to be written to the output returned.
    pub fn replace(&mut self, start: usize, end: usize) -> &mut Vec<u8> {
        let out = self.out.get_or_insert_with(|| Vec::with_capacity(self.input.len()));
        out.extend_from_slice(&self.input[self.copied..start]);
        self.copied = end;
        out
    }

    /// The rewritten value, or `None` when nothing was replaced.
    pub fn finish(self) -> Option<Vec<u8>> {
        let mut out = self.out?;
        out.extend_from_slice(&self.input[self.copied..]);
        Some(out)
    }
}
