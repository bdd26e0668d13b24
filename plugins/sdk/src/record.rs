//! [`Record`] (what a transform receives, borrowed from its batch), its [`Headers`], and
//! [`Output`] (what it returns, borrowing from the record whatever it passes on unchanged).

use std::borrow::Cow;

/// A record given to a transform, with where it came from. It borrows its batch: reading a
/// key, a value or a header copies nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Headers<'a>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl<'a> Record<'a> {
    /// The value as UTF-8 text, when it is.
    pub fn value_str(&self) -> Option<&'a str> {
        self.value.and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value of the header `name` (the last one).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.get(name)
    }
}

/// A record's headers, in order, as they lie in its batch: names of UTF-8, values that may be
/// null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    pub(crate) name_lengths: &'a [u32],
    pub(crate) value_lengths: &'a [i32],
    /// Exactly these headers' bytes: name, value, name, value, …
    pub(crate) data: &'a [u8],
}

impl<'a> Headers<'a> {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.name_lengths.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.name_lengths.is_empty()
    }

    /// Each name and value, in order.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter { headers: *self, index: 0, at: 0 }
    }

    /// The value of the header `name` (the last one; `None` also for a header without a value).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter().filter(|(n, _)| *n == name).last().and_then(|(_, v)| v)
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = (&'a str, Option<&'a [u8]>);
    type IntoIter = HeaderIter<'a>;

    fn into_iter(self) -> HeaderIter<'a> {
        self.iter()
    }
}

/// The headers of a [`Headers`], in order.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    headers: Headers<'a>,
    index: usize,
    at: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let Headers { name_lengths, value_lengths, data } = self.headers;
        let name_length = *name_lengths.get(self.index)? as usize;
        let value_length = value_lengths.get(self.index).copied().unwrap_or(-1);
        self.index += 1;
        // The lengths were checked against the data when the batch was read.
        let name = data.get(self.at..self.at + name_length).unwrap_or_default();
        self.at += name_length;
        let value = usize::try_from(value_length).ok().map(|len| {
            let value = data.get(self.at..self.at + len).unwrap_or_default();
            self.at += len;
            value
        });
        Some((std::str::from_utf8(name).unwrap_or_default(), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.headers.len() - self.index;
        (left, Some(left))
    }
}

/// A header an output adds: a name and an optional value, each borrowed or owned.
pub type AddedHeader<'a> = (Cow<'a, str>, Option<Cow<'a, [u8]>>);

/// A record a transform returns. What it takes unchanged from its input it borrows, so
/// passing a record on copies its bytes once, into the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output<'a> {
    pub key: Option<Cow<'a, [u8]>>,
    pub value: Option<Cow<'a, [u8]>>,
    /// The input's headers it keeps: all of them after [`Output::forward`].
    pub kept_headers: Headers<'a>,
    /// Headers it adds, after the kept ones.
    pub added_headers: Vec<AddedHeader<'a>>,
    /// None: the input record's timestamp.
    pub timestamp: Option<i64>,
    /// None: the deployment's output topic.
    pub topic: Option<Cow<'a, str>>,
}

impl<'a> Output<'a> {
    /// The input's key, value and headers, to the default output topic with the input's
    /// timestamp: the way to pass a record on, or to keep its key and headers with a new value.
    pub fn forward(record: Record<'a>) -> Self {
        Self { key: record.key.map(Cow::Borrowed), value: record.value.map(Cow::Borrowed), kept_headers: record.headers, ..Self::default() }
    }

    /// With another key.
    pub fn with_key(mut self, key: impl Into<Cow<'a, [u8]>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// With no key.
    pub fn without_key(mut self) -> Self {
        self.key = None;
        self
    }

    /// With another value.
    pub fn with_value(mut self, value: impl Into<Cow<'a, [u8]>>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// With no value: a tombstone, which deletes its key from a compacted topic.
    pub fn without_value(mut self) -> Self {
        self.value = None;
        self
    }

    /// With a header added.
    pub fn with_header(mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, [u8]>>) -> Self {
        self.added_headers.push((name.into(), Some(value.into())));
        self
    }

    /// With none of the input's headers, nor any added so far.
    pub fn without_headers(mut self) -> Self {
        self.kept_headers = Headers::default();
        self.added_headers.clear();
        self
    }

    /// Sent to `topic` instead of the deployment's output topic.
    pub fn to_topic(mut self, topic: impl Into<Cow<'a, str>>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// With its own timestamp (milliseconds since the Unix epoch).
    pub fn at(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The value as UTF-8 text, when it is.
    pub fn value_str(&self) -> Option<&str> {
        self.value.as_deref().and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every header, kept then added.
    pub fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> + '_ {
        self.kept_headers.iter().chain(self.added_headers.iter().map(|(n, v)| (n.as_ref(), v.as_deref())))
    }

    /// The value of the header `name` (the last one).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().filter(|(n, _)| *n == name).last().and_then(|(_, v)| v)
    }

    /// The same output, owning everything it held.
    pub fn into_owned(self) -> Output<'static> {
        let owned = |b: Cow<'a, [u8]>| Cow::Owned(b.into_owned());
        let mut added_headers: Vec<AddedHeader<'static>> =
            self.kept_headers.iter().map(|(n, v)| (Cow::Owned(n.to_string()), v.map(|v| Cow::Owned(v.to_vec())))).collect();
        added_headers.extend(self.added_headers.into_iter().map(|(n, v)| (Cow::Owned(n.into_owned()), v.map(owned))));
        Output {
            key: self.key.map(owned),
            value: self.value.map(owned),
            kept_headers: Headers::default(),
            added_headers,
            timestamp: self.timestamp,
            topic: self.topic.map(|t| Cow::Owned(t.into_owned())),
        }
    }
}
