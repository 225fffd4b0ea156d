//! Turning the `liquid` crate's errors into Nudge's messages: a syntax error becomes
//! "line L, column C: what Liquid expected"; an undefined value at render time becomes the
//! path of the variable, with loop variables mapped back to their collection
//! (`event.items[].name`). The crate exposes its errors only as text, so this reads that text.

use crate::expression::{parse_path, tokens, Token};
use crate::guards::line_of;
use crate::markup::live_markup;

/// Liquid's syntax error as one line that names where it is.
pub(crate) fn syntax_message(error: &liquid_core::Error, source: &str) -> String {
    let report = Report::read(&error.to_string());
    let details = report.details();
    if let Some((line, column)) = report.position {
        return format!("line {line}, column {column}: {}{details}", report.message);
    }
    match report
        .filter_name()
        .and_then(|name| filter_line(source, name))
    {
        Some(line) => format!("line {line}: {}{details}", report.message),
        None => format!("{}{details}", report.message),
    }
}

/// The undefined variable a render failed on, if that is why, and the message to report.
pub(crate) fn render_failure(error: &liquid_core::Error) -> (Option<String>, String) {
    let report = Report::read(&error.to_string());
    match report.undefined_variable() {
        Some(variable) => {
            let message = format!("`{variable}` is undefined (give it a value or a `default`)");
            (Some(variable), message)
        }
        None => (None, format!("{}{}", report.message, report.details())),
    }
}

/// The parts of Liquid's error text: its message, a position for syntax errors, and the
/// frames of its trace (`from: {% for item in event["items"] %}` with `key=value` lines).
struct Report {
    message: String,
    position: Option<(usize, usize)>,
    frames: Vec<Frame>,
}

#[derive(Default)]
struct Frame {
    trace: Option<String>,
    context: Vec<(String, String)>,
}

impl Report {
    fn read(text: &str) -> Self {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let first = first.strip_prefix("liquid:").unwrap_or(first).trim();
        let position = first.strip_prefix("-->").and_then(|at| {
            let (line, column) = at.trim().split_once(':')?;
            Some((line.parse().ok()?, column.parse().ok()?))
        });
        let mut report = Report {
            message: first.to_owned(),
            position,
            frames: vec![Frame::default()],
        };
        for line in lines {
            if let Some(trace) = line.strip_prefix("from: ") {
                report.frames.push(Frame {
                    trace: Some(trace.to_owned()),
                    context: Vec::new(),
                });
            } else if let Some(message) = line.strip_prefix("  = ") {
                report.message = message.trim().to_owned();
            } else if let Some((key, value)) =
                line.strip_prefix("    ").and_then(|l| l.split_once('='))
            {
                if let Some(frame) = report.frames.last_mut() {
                    frame.context.push((key.to_owned(), value.to_owned()));
                }
            }
        }
        report
    }

    fn context(&self, wanted: &str) -> Option<&str> {
        self.frames
            .iter()
            .flat_map(|frame| frame.context.iter())
            .find(|(key, _)| key == wanted)
            .map(|(_, value)| value.as_str())
    }

    /// ` (key: value, …)` for the context worth showing: not the long lists of what is
    /// available, nor the input a filter got (a person's data).
    fn details(&self) -> String {
        let shown: Vec<String> = self
            .frames
            .iter()
            .flat_map(|frame| frame.context.iter())
            .filter(|(key, _)| !key.starts_with("available") && key != "input" && key != "index")
            .map(|(key, value)| {
                // A filter without arguments prints as `money :`.
                let value = value.trim().trim_end_matches(':').trim_end();
                format!("{key}: {value}")
            })
            .collect();
        if shown.is_empty() {
            String::new()
        } else {
            format!(" ({})", shown.join(", "))
        }
    }

    fn filter_name(&self) -> Option<&str> {
        self.context("requested filter")
            .or_else(|| self.context("filter"))
            .and_then(|filter| filter.split_whitespace().next())
    }

    /// The path that was undefined, its loop variables replaced by their collections.
    fn undefined_variable(&self) -> Option<String> {
        let mut path = match self.message.as_str() {
            "Unknown variable" => self
                .frames
                .first()?
                .context_value("requested variable")?
                .to_owned(),
            "Unknown index" => {
                let first = self.frames.first()?;
                let parent = dotted_path(first.context_value("variable")?);
                let index = first.context_value("requested index")?;
                if index.parse::<i64>().is_ok() {
                    format!("{parent}[{index}]")
                } else {
                    format!("{parent}.{index}")
                }
            }
            _ => return None,
        };
        for frame in &self.frames {
            if let Some((variable, collection)) = frame.trace.as_deref().and_then(loop_header) {
                let root_length = path.find(['.', '[']).unwrap_or(path.len());
                if path.get(..root_length) == Some(variable.as_str()) {
                    path = format!(
                        "{collection}[]{}",
                        path.get(root_length..).unwrap_or_default()
                    );
                }
            }
        }
        Some(path)
    }
}

impl Frame {
    fn context_value(&self, wanted: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(key, _)| key == wanted)
            .map(|(_, value)| value.as_str())
    }
}

/// Liquid joins the path to an undefined index with dots (`customer.list.0`); array
/// positions read better in brackets.
fn dotted_path(joined: &str) -> String {
    let mut path = String::new();
    for (position, segment) in joined.split('.').enumerate() {
        if position > 0 && segment.parse::<i64>().is_ok() {
            path.push_str(&format!("[{segment}]"));
        } else {
            if position > 0 {
                path.push('.');
            }
            path.push_str(segment);
        }
    }
    path
}

/// `{% for item in event["items"] limit: 2 %}` → (`item`, `event.items`).
fn loop_header(trace: &str) -> Option<(String, String)> {
    let rest = trace
        .strip_prefix("{% for ")
        .or_else(|| trace.strip_prefix("{% tablerow "))?;
    let (variable, rest) = rest.trim_start().split_once(' ')?;
    let collection = rest.trim_start().strip_prefix("in ")?;
    let collection = parse_path(collection)?;
    Some((variable.to_owned(), collection.display()))
}

/// The line of the first place `source` applies the filter `name`.
fn filter_line(source: &str, name: &str) -> Option<usize> {
    live_markup(source).into_iter().find_map(|markup| {
        let (arguments, start) = markup.arguments();
        let all = tokens(arguments, start);
        all.windows(2).find_map(|pair| match (&pair[0], &pair[1]) {
            (bar, Token::Variable(filter))
                if bar.is_symbol("|") && filter.bare_word() == Some(name) =>
            {
                Some(line_of(source, filter.span.start))
            }
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_loops_map_back_to_the_outer_collection() {
        let text = "liquid: Unknown index\n  with:\n    variable=i\n    requested index=x\n    available indexes=name\nfrom: {% for j in i[\"x\"]  %}\nfrom: {% for i in customer[\"list\"]  %}\n  with:\n    index=1\n";
        let report = Report::read(text);
        assert_eq!(
            report.undefined_variable().as_deref(),
            Some("customer.list[].x")
        );
    }

    #[test]
    fn positions_of_missing_array_members_are_bracketed() {
        let text =
            "liquid: Unknown index\n  with:\n    variable=customer.list.0\n    requested index=5\n";
        let report = Report::read(text);
        assert_eq!(
            report.undefined_variable().as_deref(),
            Some("customer.list[0][5]")
        );
    }

    #[test]
    fn syntax_errors_keep_line_and_column() {
        let text =
            "liquid:  --> 3:8\n  |\n3 | {{ x | }}\n  |        ^---\n  |\n  = expected Identifier\n";
        let report = Report::read(text);
        assert_eq!(report.position, Some((3, 8)));
        assert_eq!(report.message, "expected Identifier");
    }

    #[test]
    fn filters_are_found_on_their_line() {
        assert_eq!(filter_line("a\n\n{{ x | upcase | nope }}", "nope"), Some(3));
        assert_eq!(filter_line("{{ x }}", "nope"), None);
    }
}
