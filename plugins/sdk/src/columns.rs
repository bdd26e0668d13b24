//! A batch's packed keys, values and headers (the world's `contents`): read record by record
//! as borrowed slices ([`ContentsReader`]), and written output by output ([`ContentsWriter`]).

use std::borrow::Cow;

use crate::glue::bindings::fjord::transform::types::Contents;
use crate::record::Headers;
use crate::Output;

/// Reads `contents` one record at a time, front to back, checking every length against the
/// data as it goes.
pub(crate) struct ContentsReader<'a> {
    contents: &'a Contents,
    record: usize,
    header: usize,
    at: usize,
}

/// One record's key, value and headers.
pub(crate) type Parts<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Headers<'a>);

impl<'a> ContentsReader<'a> {
    pub(crate) fn new(contents: &'a Contents) -> Self {
        Self { contents, record: 0, header: 0, at: 0 }
    }

    /// How many records the columns describe; an error when they disagree.
    pub(crate) fn records(&self) -> Result<usize, String> {
        let c = self.contents;
        let n = c.key_lengths.len();
        if c.value_lengths.len() != n || c.header_counts.len() != n || c.header_name_lengths.len() != c.header_value_lengths.len() {
            return Err(format!(
                "its columns disagree: {n} keys, {} values, {} header counts, {} header names, {} header values",
                c.value_lengths.len(),
                c.header_counts.len(),
                c.header_name_lengths.len(),
                c.header_value_lengths.len()
            ));
        }
        Ok(n)
    }

    /// The next record's parts, or why its lengths do not fit the data.
    pub(crate) fn next_record(&mut self) -> Result<Parts<'a>, String> {
        let c = self.contents;
        let i = self.record;
        let key = self.take(*c.key_lengths.get(i).ok_or("there is no record left")?)?;
        let value = self.take(c.value_lengths.get(i).copied().unwrap_or(-1))?;
        let count = c.header_counts.get(i).copied().unwrap_or(0) as usize;
        let own = self.header..self.header.saturating_add(count);
        let (Some(name_lengths), Some(value_lengths)) = (c.header_name_lengths.get(own.clone()), c.header_value_lengths.get(own)) else {
            return Err(format!("its {count} headers from {} run past the batch's {}", self.header, c.header_name_lengths.len()));
        };
        let start = self.at;
        for (&name, &value) in name_lengths.iter().zip(value_lengths) {
            self.take(i32::try_from(name).map_err(|_| format!("a header name of {name} bytes"))?)?;
            self.take(value)?;
        }
        self.header += count;
        self.record += 1;
        Ok((key, value, Headers { name_lengths, value_lengths, data: &c.data[start..self.at] }))
    }

    /// The next `length` bytes of the data (-1: null).
    fn take(&mut self, length: i32) -> Result<Option<&'a [u8]>, String> {
        if length == -1 {
            return Ok(None);
        }
        let len = usize::try_from(length).map_err(|_| format!("a length of {length} (only -1, for null, may be negative)"))?;
        let data = &self.contents.data;
        let bytes = data.get(self.at..self.at.saturating_add(len)).ok_or_else(|| format!("{len} bytes from {} run past its {} bytes of data", self.at, data.len()))?;
        self.at += len;
        Ok(Some(bytes))
    }
}

/// Packs outputs' keys, values and headers.
pub(crate) struct ContentsWriter {
    contents: Contents,
}

impl ContentsWriter {
    pub(crate) fn with_capacity(bytes: usize, records: usize) -> Self {
        Self {
            contents: Contents {
                key_lengths: Vec::with_capacity(records),
                value_lengths: Vec::with_capacity(records),
                header_counts: Vec::with_capacity(records),
                header_name_lengths: Vec::new(),
                header_value_lengths: Vec::new(),
                data: Vec::with_capacity(bytes),
            },
        }
    }

    /// Appends `output`'s key, value and headers. A field of 2 GiB or more cannot be described
    /// by the world's lengths and is an error.
    pub(crate) fn push(&mut self, output: &Output<'_>) -> Result<(), String> {
        let c = &mut self.contents;
        let key = put(&mut c.data, output.key.as_deref())?;
        let value = put(&mut c.data, output.value.as_deref())?;
        c.key_lengths.push(key);
        c.value_lengths.push(value);
        let kept = output.kept_headers;
        c.header_counts.push((kept.len() + output.added_headers.len()) as u32);
        // Kept headers are copied as they lay in the input, lengths and bytes in one go each.
        c.header_name_lengths.extend_from_slice(kept.name_lengths);
        c.header_value_lengths.extend_from_slice(kept.value_lengths);
        c.data.extend_from_slice(kept.data);
        for (name, value) in &output.added_headers {
            let name = put(&mut c.data, Some(name.as_bytes()))?;
            c.header_name_lengths.push(name as u32);
            let value = put(&mut c.data, value.as_deref())?;
            c.header_value_lengths.push(value);
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Contents {
        self.contents
    }
}

/// Appends `bytes` to `data`; its length, -1 for null.
fn put(data: &mut Vec<u8>, bytes: Option<&[u8]>) -> Result<i32, String> {
    let Some(bytes) = bytes else { return Ok(-1) };
    let len = i32::try_from(bytes.len()).map_err(|_| format!("an output field of {} bytes is over the 2 GiB a record field may hold", bytes.len()))?;
    data.extend_from_slice(bytes);
    Ok(len)
}

/// An output read back from packed contents, owning its bytes (for the testing harness).
pub(crate) fn owned_output(parts: Parts<'_>) -> Output<'static> {
    let (key, value, headers) = parts;
    Output {
        key: key.map(|k| Cow::Owned(k.to_vec())),
        value: value.map(|v| Cow::Owned(v.to_vec())),
        added_headers: headers.iter().map(|(n, v)| (Cow::Owned(n.to_string()), v.map(|v| Cow::Owned(v.to_vec())))).collect(),
        ..Output::default()
    }
}
