//! Decoding the change messages of PostgreSQL's `pgoutput` plugin (protocol version 1, text
//! values): Relation, Insert, Update, Delete and Truncate. Begin and Commit arrive decoded by
//! the replication client; Type and Origin messages are skipped. Malformed bytes are an
//! error naming what was cut short, never a panic.

/// A column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    /// Part of the replica identity (the primary key, by default).
    pub key: bool,
}

/// A table as the stream describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub table: String,
    pub columns: Vec<Column>,
}

/// One column's value in a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    /// A TOASTed value that did not change (the stream does not carry it).
    Unchanged,
    Text(String),
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Relation(Relation),
    Insert { relation: u32, new: Vec<Cell> },
    /// `old` is the old row (REPLICA IDENTITY FULL) or its key columns, when the stream has it.
    Update { relation: u32, old: Option<Vec<Cell>>, new: Vec<Cell> },
    Delete { relation: u32, old: Vec<Cell> },
    Truncate { relations: Vec<u32> },
    /// Type, Origin and other messages the connector has no use for.
    Other,
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!("pgoutput message cut short reading {what}"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    fn i16(&mut self, what: &str) -> Result<i16, String> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(self.i32(what)?.cast_unsigned())
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        let end = self.bytes.iter().position(|&b| b == 0).ok_or_else(|| format!("pgoutput message cut short reading {what}"))?;
        let text = String::from_utf8_lossy(&self.bytes[..end]).into_owned();
        self.bytes = &self.bytes[end + 1..];
        Ok(text)
    }
    fn tuple(&mut self) -> Result<Vec<Cell>, String> {
        let count = self.i16("a tuple's column count")?;
        let count = usize::try_from(count).map_err(|_| format!("a tuple with {count} columns"))?;
        let mut cells = Vec::with_capacity(count);
        for _ in 0..count {
            cells.push(match self.u8("a column's kind")? {
                b'n' => Cell::Null,
                b'u' => Cell::Unchanged,
                b't' => {
                    let len = self.i32("a value's length")?;
                    let len = usize::try_from(len).map_err(|_| format!("a value of length {len}"))?;
                    Cell::Text(String::from_utf8_lossy(self.take(len, "a value")?).into_owned())
                }
                other => return Err(format!("a column of kind {:?} (binary values are not requested)", char::from(other))),
            });
        }
        Ok(cells)
    }
}

/// Decodes one message (the bytes of an XLogData payload).
pub fn decode(bytes: &[u8]) -> Result<Message, String> {
    let mut r = Reader { bytes };
    let tag = r.u8("the message type")?;
    Ok(match tag {
        b'R' => {
            let oid = r.u32("the relation id")?;
            let schema = r.string("the schema name")?;
            let table = r.string("the table name")?;
            let _identity = r.u8("the replica identity")?;
            let count = r.i16("the column count")?;
            let mut columns = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            for _ in 0..count {
                let flags = r.u8("a column's flags")?;
                let name = r.string("a column's name")?;
                let type_oid = r.u32("a column's type")?;
                let type_modifier = r.i32("a column's type modifier")?;
                columns.push(Column { name, type_oid, type_modifier, key: flags & 1 == 1 });
            }
            Message::Relation(Relation { oid, schema, table, columns })
        }
        b'I' => {
            let relation = r.u32("the relation id")?;
            match r.u8("the tuple marker")? {
                b'N' => Message::Insert { relation, new: r.tuple()? },
                other => return Err(format!("an insert with tuple marker {:?}", char::from(other))),
            }
        }
        b'U' => {
            let relation = r.u32("the relation id")?;
            let mut old = None;
            let mut marker = r.u8("the tuple marker")?;
            if marker == b'K' || marker == b'O' {
                old = Some(r.tuple()?);
                marker = r.u8("the new tuple marker")?;
            }
            if marker != b'N' {
                return Err(format!("an update with tuple marker {:?}", char::from(marker)));
            }
            Message::Update { relation, old, new: r.tuple()? }
        }
        b'D' => {
            let relation = r.u32("the relation id")?;
            match r.u8("the tuple marker")? {
                b'K' | b'O' => Message::Delete { relation, old: r.tuple()? },
                other => return Err(format!("a delete with tuple marker {:?}", char::from(other))),
            }
        }
        b'T' => {
            let count = r.i32("the relation count")?;
            let _options = r.u8("the truncate options")?;
            let mut relations = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1024));
            for _ in 0..count {
                relations.push(r.u32("a relation id")?);
            }
            Message::Truncate { relations }
        }
        _ => Message::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation_bytes() -> Vec<u8> {
        let mut b = vec![b'R'];
        b.extend(16_384u32.to_be_bytes());
        b.extend(b"public\0users\0");
        b.push(b'd');
        b.extend(2i16.to_be_bytes());
        b.push(1);
        b.extend(b"id\0");
        b.extend(23u32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.push(0);
        b.extend(b"name\0");
        b.extend(25u32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b
    }

    #[test]
    fn relations_and_changes_decode() {
        let Message::Relation(rel) = decode(&relation_bytes()).expect("relation") else { panic!("not a relation") };
        assert_eq!((rel.schema.as_str(), rel.table.as_str(), rel.columns.len()), ("public", "users", 2));
        assert!(rel.columns[0].key && !rel.columns[1].key);
        let mut insert = vec![b'I'];
        insert.extend(16_384u32.to_be_bytes());
        insert.push(b'N');
        insert.extend(2i16.to_be_bytes());
        insert.push(b't');
        insert.extend(1i32.to_be_bytes());
        insert.push(b'7');
        insert.push(b'n');
        assert_eq!(decode(&insert), Ok(Message::Insert { relation: 16_384, new: vec![Cell::Text("7".into()), Cell::Null] }));
    }

    #[test]
    fn every_cut_of_a_message_is_an_error_not_a_panic() {
        let bytes = relation_bytes();
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
