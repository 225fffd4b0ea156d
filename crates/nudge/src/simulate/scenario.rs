//! Reading a scenario file: NDJSON where each line is a Segment-spec message (`identify`,
//! `track`, `page`, `screen`, `group`, `alias`) whose `timestamp` is the moment it arrives, or
//! a control line `{"type":"advance","until":"<RFC 3339>"}`. Lines must not go back in time.

use nudge_core::Timestamp;
use serde_json::Value;

/// One line of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A message that arrives at `at`.
    Message {
        at: Timestamp,
        number: usize,
        message: Value,
    },
    /// Run the clock to `until`.
    Advance { until: Timestamp },
}

impl Line {
    pub fn at(&self) -> Timestamp {
        match self {
            Line::Message { at, .. } => *at,
            Line::Advance { until } => *until,
        }
    }
}

/// The scenario's lines, or the first problem with its line number.
pub fn parse(text: &str) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();
    let mut last: Option<Timestamp> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line = parse_line(raw, number).map_err(|e| anyhow::anyhow!("line {number}: {e}"))?;
        if let Some(previous) = last.filter(|p| line.at() < *p) {
            anyhow::bail!(
                "line {number}: {} is before the previous line's {}",
                line.at().to_rfc3339(),
                previous.to_rfc3339()
            );
        }
        last = Some(line.at());
        lines.push(line);
    }
    Ok(lines)
}

fn parse_line(raw: &str, number: usize) -> Result<Line, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(map) = &value else {
        return Err("a line must be a JSON object".into());
    };
    let time = |key: &str| -> Result<Timestamp, String> {
        match map.get(key) {
            Some(Value::String(text)) => Timestamp::parse_rfc3339(text)
                .ok_or_else(|| format!("{key} '{text}' is not an RFC 3339 time")),
            Some(_) => Err(format!("{key} must be an RFC 3339 string")),
            None => Err(format!("{key} is required")),
        }
    };
    match map.get("type").and_then(Value::as_str) {
        Some("advance") => Ok(Line::Advance {
            until: time("until")?,
        }),
        Some("identify" | "track" | "page" | "screen" | "group" | "alias") => Ok(Line::Message {
            at: time("timestamp")?,
            number,
            message: value.clone(),
        }),
        Some(other) => Err(format!(
            "unknown type '{other}': identify, track, page, screen, group, alias or advance"
        )),
        None => Err("type is required".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_advances_are_read_in_order() {
        let text = r#"{"type":"identify","userId":"c-1","timestamp":"2026-03-02T10:00:00Z"}

{"type":"advance","until":"2026-03-02T12:00:00Z"}
"#;
        let lines = parse(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(matches!(&lines[0], Line::Message { number: 1, .. }));
        assert_eq!(
            lines[1],
            Line::Advance {
                until: Timestamp::parse_rfc3339("2026-03-02T12:00:00Z").unwrap()
            }
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        let error = |text: &str| parse(text).unwrap_err().to_string();
        assert!(error("{\"type\":\"track\"}").starts_with("line 1: timestamp is required"));
        assert!(error("\n[1]").starts_with("line 2: a line must be"));
        assert!(error("{\"type\":\"jump\"}").contains("unknown type 'jump'"));
        let backwards = r#"{"type":"advance","until":"2026-03-02T12:00:00Z"}
{"type":"track","event":"x","userId":"a","timestamp":"2026-03-02T11:00:00Z"}"#;
        assert!(
            error(backwards).starts_with("line 2:"),
            "{}",
            error(backwards)
        );
    }
}
