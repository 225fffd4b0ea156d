//! The plain-text part of an email whose request gave only HTML (Customer.io's `body`): the
//! rendered HTML with its tags removed, block ends and `<br>` as line breaks, list items as
//! `- ` lines, links followed by their address, the common entities decoded, and blank runs
//! collapsed. Not a renderer: enough that a text-only mail client shows the message.

/// Elements whose end (or start) is a line break.
const BLOCKS: [&str; 16] = [
    "p",
    "div",
    "br",
    "tr",
    "table",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "section",
    "hr",
];

/// The text of `html`.
pub(super) fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    let mut pending_href: Vec<Option<String>> = Vec::new();
    while let Some(open) = rest.find('<') {
        text.push_str(&decode_entities(&rest[..open]));
        let Some(close) = rest[open..].find('>') else {
            text.push_str(&decode_entities(&rest[open..]));
            rest = "";
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "script" | "style" | "head" if !closing => {
                let end = format!("</{name}");
                rest = match rest.to_ascii_lowercase().find(&end) {
                    Some(at) => rest[at..].split_once('>').map_or("", |(_, after)| after),
                    None => "",
                };
            }
            "li" if !closing => text.push_str("\n- "),
            "a" if !closing => pending_href.push(attribute(tag, "href")),
            "a" => {
                if let Some(Some(href)) = pending_href.pop() {
                    if !href.starts_with('#') && !text.trim_end().ends_with(&href) {
                        text.push_str(&format!(" ({href})"));
                    }
                }
            }
            block if BLOCKS.contains(&block) => text.push('\n'),
            _ => {}
        }
    }
    text.push_str(&decode_entities(rest));
    tidy(&text)
}

/// The value of `name="…"` (or `'…'`) in a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let value = &tag[at..];
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &value[1..];
    inner.find(quote).map(|end| decode_entities(&inner[..end]))
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest[1..].find(';').map(|end| &rest[1..end + 1]);
        let decoded = entity.and_then(|name| match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => {
                let number = name.strip_prefix('#')?;
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code)
            }
        });
        match (entity, decoded) {
            (Some(name), Some(c)) => {
                out.push(c);
                rest = &rest[name.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Spaces collapsed within lines, lines trimmed, at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let line = words.join(" ");
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(html: &str, expected: &str) {
        assert_eq!(html_to_text(html), expected, "{html}");
    }

    #[test]
    fn text_keeps_the_words_lines_and_links() {
        check(
            "<p>Hi <b>Ana</b>,</p><p>Your order</p>",
            "Hi Ana,\n\nYour order",
        );
        check("Line one<br>Line two<br/>", "Line one\nLine two");
        check("<ul><li>Serum</li><li>Cream</li></ul>", "- Serum\n- Cream");
        check(
            r#"<a href="https://lumen.example/r?a=1&amp;b=2">Reset</a>"#,
            "Reset (https://lumen.example/r?a=1&b=2)",
        );
        check(
            r#"<a href="https://x.example">https://x.example</a>"#,
            "https://x.example",
        );
        check(
            "<html><head><title>T</title><style>p{color:red}</style></head><body>\n  <p>Ok</p></body></html>",
            "Ok",
        );
        check("<script>alert(1)</script>Safe", "Safe");
        check(
            "5 &lt; 6 &amp; &#8364;3 &#x41; &bogus; &",
            "5 < 6 & €3 A &bogus; &",
        );
        check("no tags   at\n\n\n\nall", "no tags at\n\nall");
    }
}
