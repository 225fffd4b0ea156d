//! Finding the markup in Liquid source: every `{{ … }}` output and `{% … %}` tag outside
//! `raw` and `comment` blocks, with byte offsets. Used on source the `liquid` parser has
//! already accepted; on any other text it returns what it can and never panics.

/// Whether a piece of markup prints a value or is a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkupKind {
    Output,
    Tag,
}

/// One `{{ … }}` or `{% … %}`: its contents without the delimiters and whitespace-control
/// hyphens, and where those contents start in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Markup<'s> {
    pub kind: MarkupKind,
    pub inner: &'s str,
    pub inner_start: usize,
}

impl<'s> Markup<'s> {
    /// A tag's name (`for`, `assign`, `endif`); `None` for outputs.
    pub fn tag_name(&self) -> Option<&'s str> {
        if self.kind != MarkupKind::Tag {
            return None;
        }
        let trimmed = self.inner.trim_start();
        let length = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(trimmed.len());
        trimmed.get(..length)
    }

    /// The text after a tag's name and where it starts in the source; for an output, all of it.
    pub fn arguments(&self) -> (&'s str, usize) {
        let skipped = match self.tag_name() {
            Some(name) => {
                let leading = self.inner.len() - self.inner.trim_start().len();
                leading + name.len()
            }
            None => 0,
        };
        let text = self.inner.get(skipped..).unwrap_or_default();
        (text, self.inner_start + skipped)
    }
}

/// Every piece of markup Liquid interprets, in source order: the contents of `raw` and
/// `comment` blocks (and those tags themselves) are left out.
pub(crate) fn live_markup(source: &str) -> Vec<Markup<'_>> {
    let mut live = Vec::new();
    let mut inside = Inside::Template;
    for markup in all_markup(source) {
        let name = markup.tag_name();
        inside = match (inside, name) {
            (Inside::Template, Some("raw")) => Inside::Raw,
            (Inside::Template, Some("comment")) => Inside::Comment(1),
            (Inside::Template, _) => {
                live.push(markup);
                Inside::Template
            }
            (Inside::Raw, Some("endraw")) => Inside::Template,
            (Inside::Raw, _) => Inside::Raw,
            (Inside::Comment(depth), Some("comment")) => Inside::Comment(depth + 1),
            (Inside::Comment(1), Some("endcomment")) => Inside::Template,
            (Inside::Comment(depth), Some("endcomment")) => Inside::Comment(depth - 1),
            (Inside::Comment(depth), _) => Inside::Comment(depth),
        };
    }
    live
}

#[derive(Debug, Clone, Copy)]
enum Inside {
    Template,
    Raw,
    Comment(usize),
}

fn all_markup(source: &str) -> Vec<Markup<'_>> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut position = 0;
    while position + 1 < bytes.len() {
        let kind = match (bytes[position], bytes[position + 1]) {
            (b'{', b'{') => MarkupKind::Output,
            (b'{', b'%') => MarkupKind::Tag,
            _ => {
                position += 1;
                continue;
            }
        };
        let mut inner_start = position + 2;
        if bytes.get(inner_start) == Some(&b'-') {
            inner_start += 1;
        }
        let closing = match kind {
            MarkupKind::Output => b'}',
            MarkupKind::Tag => b'%',
        };
        let Some(end) = closing_position(bytes, inner_start, closing) else {
            break;
        };
        let mut inner_end = end;
        if inner_end > inner_start && bytes[inner_end - 1] == b'-' {
            inner_end -= 1;
        }
        if let Some(inner) = source.get(inner_start..inner_end) {
            found.push(Markup {
                kind,
                inner,
                inner_start,
            });
        }
        position = end + 2;
    }
    found
}

/// Where `closing` followed by `}` ends the markup, skipping quoted strings.
fn closing_position(bytes: &[u8], from: usize, closing: u8) -> Option<usize> {
    let mut position = from;
    while position < bytes.len() {
        match bytes[position] {
            quote @ (b'\'' | b'"') => {
                let rest = bytes.get(position + 1..)?;
                let length = rest.iter().position(|b| *b == quote)?;
                position += length + 2;
            }
            byte if byte == closing && bytes.get(position + 1) == Some(&b'}') => {
                return Some(position);
            }
            _ => position += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inners(source: &str) -> Vec<&str> {
        live_markup(source).into_iter().map(|m| m.inner).collect()
    }

    #[test]
    fn outputs_and_tags_with_whitespace_control() {
        assert_eq!(
            inners("a {{- x -}} b {%- if y -%}c{% endif %}"),
            vec![" x ", " if y ", " endif "]
        );
    }

    #[test]
    fn raw_and_nested_comments_are_skipped() {
        let source = "{% raw %}{{ a }}{% endraw %}{% comment %}{% comment %}{{ b }}{% endcomment %}{{ c }}{% endcomment %}{{ d }}";
        assert_eq!(inners(source), vec![" d "]);
    }

    #[test]
    fn closing_delimiters_inside_strings_do_not_end_markup() {
        assert_eq!(
            inners(r#"{{ "}}" | append: '%}' }}!"#),
            vec![r#" "}}" | append: '%}' "#]
        );
    }

    #[test]
    fn tag_names_and_arguments() {
        let markup = live_markup("xx{%  for item in event.items %}");
        let first = &markup[0];
        assert_eq!(first.tag_name(), Some("for"));
        let (arguments, start) = first.arguments();
        assert_eq!(arguments, " item in event.items ");
        assert_eq!(
            &"xx{%  for item in event.items %}"[start..start + 5],
            " item"
        );
    }

    #[test]
    fn unfinished_markup_never_panics() {
        for source in ["{{", "{%", "{{ 'x", "{{-", "é{{ ü }}", "{% raw %}{{"] {
            let _ = live_markup(source);
        }
    }
}
