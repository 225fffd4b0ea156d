//! Reading an import file one record at a time, never all of it: NDJSON lines or CSV records
//! (RFC 4180: a header row, quoted fields, quoted line breaks), each with the line it starts
//! on, its raw text and the byte offset just after it, so an import can resume exactly there.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use anyhow::Context;
use nudge_core::JsonMap;
use serde_json::Value;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ndjson,
    Csv,
}

/// Where the reader stands: the byte offset of the next record and the (1-based) line it
/// starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub offset: u64,
    pub line: u64,
}

/// One record as read: its fields, or why it could not be read as a record at all.
#[derive(Debug)]
pub struct Record {
    pub line: u64,
    pub raw: String,
    pub fields: Result<JsonMap, String>,
}

pub struct Records {
    reader: BufReader<File>,
    format: Format,
    header: Vec<String>,
    position: Position,
    buf: Vec<u8>,
}

impl Records {
    /// Opens `path` at `start` (the beginning when `None`). A CSV file's header is read from
    /// its first line whatever the start.
    pub fn open(path: &Path, format: Format, start: Option<Position>) -> anyhow::Result<Records> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut records = Records {
            reader: BufReader::with_capacity(256 * 1024, file),
            format,
            header: Vec::new(),
            position: Position { offset: 0, line: 1 },
            buf: Vec::new(),
        };
        if format == Format::Csv {
            let (line, raw) = records
                .physical_record()?
                .context("the CSV file is empty: it needs a header row")?;
            records.header = split_csv(raw.trim_start_matches('\u{feff}'))
                .map_err(|e| anyhow::anyhow!("the CSV header (line {line}) is malformed: {e}"))?
                .into_iter()
                .map(|name| name.trim().to_string())
                .collect();
            if let Some(blank) = records.header.iter().position(|h| h.trim().is_empty()) {
                anyhow::bail!("column {} of the CSV header has no name", blank + 1);
            }
        }
        if let Some(start) = start.filter(|s| s.offset > records.position.offset) {
            records
                .reader
                .seek(SeekFrom::Start(start.offset))
                .context("seeking to the checkpoint")?;
            records.position = start;
        }
        Ok(records)
    }

    pub fn position(&self) -> Position {
        self.position
    }

    /// The next non-blank record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> anyhow::Result<Option<Record>> {
        let Some((line, raw)) = self.physical_record()? else {
            return Ok(None);
        };
        let fields = match self.format {
            Format::Ndjson => match serde_json::from_str::<Value>(&raw) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("each line must be a JSON object".to_string()),
                Err(e) => Err(format!("not valid JSON: {e}")),
            },
            Format::Csv => split_csv(&raw).and_then(|cells| self.csv_fields(cells)),
        };
        Ok(Some(Record { line, raw, fields }))
    }

    /// CSV cells under their header names; empty cells are left out (see docs/import-export.md).
    fn csv_fields(&self, cells: Vec<String>) -> Result<JsonMap, String> {
        if cells.len() != self.header.len() {
            return Err(format!(
                "the row has {} fields; the header has {}",
                cells.len(),
                self.header.len()
            ));
        }
        Ok(self
            .header
            .iter()
            .zip(cells)
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(name, cell)| (name.clone(), Value::String(cell)))
            .collect())
    }

    /// The next non-blank record's first line and raw text (without its line break). A CSV
    /// record whose quotes are still open at a line break goes on to the next line.
    fn physical_record(&mut self) -> anyhow::Result<Option<(u64, String)>> {
        loop {
            self.buf.clear();
            let first_line = self.position.line;
            loop {
                let read = self.reader.read_until(b'\n', &mut self.buf)?;
                if read == 0 {
                    break;
                }
                self.position.offset += read as u64;
                self.position.line += 1;
                if self.format == Format::Ndjson || quotes_balanced(&self.buf) {
                    break;
                }
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let raw = String::from_utf8_lossy(&self.buf).into_owned();
            return Ok(Some((first_line, raw)));
        }
    }
}

fn quotes_balanced(bytes: &[u8]) -> bool {
    bytes.iter().filter(|b| **b == b'"').count() % 2 == 0
}

/// Splits one CSV record into its fields (RFC 4180: `"` quotes a field, `""` is a quote
/// inside one).
pub fn split_csv(record: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("a closing quote must end its field".into());
                }
            }
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => return Err("a quote inside an unquoted field".into()),
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is never closed".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn check(record: &str, expected: &[&str]) {
        assert_eq!(split_csv(record).unwrap(), expected, "for {record}");
    }

    #[test]
    fn csv_fields_follow_rfc_4180() {
        check("a,b,c", &["a", "b", "c"]);
        check("a,,c", &["a", "", "c"]);
        check(r#""x, y","say ""hi""",z"#, &["x, y", r#"say "hi""#, "z"]);
        check("\"two\nlines\",b", &["two\nlines", "b"]);
        check("", &[""]);
        assert!(split_csv(r#""open,b"#).is_err());
        assert!(split_csv(r#"a"b,c"#).is_err());
        assert!(split_csv(r#""a"b,c"#).is_err());
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn lines(records: &mut Records) -> Vec<(u64, String)> {
        std::iter::from_fn(|| records.next_record().unwrap())
            .map(|r| (r.line, r.raw))
            .collect()
    }

    #[test]
    fn csv_records_span_quoted_line_breaks_and_resume_at_a_position() {
        let text = "id,note\r\nu1,\"first\nsecond\"\n\nu2,plain\nu3,\"\"\n";
        let f = file(text);
        let mut records = Records::open(f.path(), Format::Csv, None).unwrap();
        let first = records.next_record().unwrap().unwrap();
        assert_eq!(first.line, 2);
        assert_eq!(
            first.fields.unwrap(),
            serde_json::json!({"id": "u1", "note": "first\nsecond"})
                .as_object()
                .unwrap()
                .clone()
        );
        let after_first = records.position();
        assert_eq!(after_first.line, 4);
        let rest = lines(&mut records);
        assert_eq!(rest, vec![(5, "u2,plain".into()), (6, "u3,\"\"".into())]);
        assert_eq!(records.position().offset, text.len() as u64);

        let mut resumed = Records::open(f.path(), Format::Csv, Some(after_first)).unwrap();
        assert_eq!(lines(&mut resumed), rest);
        let mut again = Records::open(f.path(), Format::Csv, None).unwrap();
        again.next_record().unwrap();
        let third = again.next_record().unwrap().unwrap();
        let fourth = again.next_record().unwrap().unwrap();
        assert_eq!(third.fields.unwrap().len(), 2);
        assert_eq!(fourth.fields.unwrap().len(), 1, "an empty cell is left out");
    }

    #[test]
    fn ndjson_lines_that_are_not_objects_are_refused_with_their_line() {
        let f = file("{\"id\":\"a\"}\n[1]\n\n{broken\n{\"id\":\"b\"}");
        let mut records = Records::open(f.path(), Format::Ndjson, None).unwrap();
        let all: Vec<Record> = std::iter::from_fn(|| records.next_record().unwrap()).collect();
        let summary: Vec<(u64, bool)> = all.iter().map(|r| (r.line, r.fields.is_ok())).collect();
        assert_eq!(summary, vec![(1, true), (2, false), (4, false), (5, true)]);
        assert_eq!(
            all[1].fields.as_ref().unwrap_err(),
            "each line must be a JSON object"
        );
        assert!(all[2]
            .fields
            .as_ref()
            .unwrap_err()
            .starts_with("not valid JSON"));
    }
}
