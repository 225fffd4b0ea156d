//! Checks made on a part's source around the `liquid` parser: nesting deep enough to exhaust
//! its stack (its grammar panics on deeply nested brackets and its block builder recurses once
//! per open block) is refused before it parses, and tags Nudge has no use for (partials) are
//! refused after. Real templates nest a handful of levels; the limit leaves ample room.

use crate::markup::live_markup;

/// The deepest nesting of blocks, and of brackets inside one tag, a part may have.
pub(crate) const MAX_NESTING: usize = 32;

const BLOCK_OPENERS: [&str; 7] = [
    "if",
    "unless",
    "for",
    "tablerow",
    "case",
    "capture",
    "ifchanged",
];

/// Refuses a source whose blocks or brackets nest deeper than [`MAX_NESTING`].
pub(crate) fn check_nesting(source: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for markup in live_markup(source) {
        let Some(name) = markup.tag_name() else {
            continue;
        };
        if BLOCK_OPENERS.contains(&name) {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(format!(
                    "line {}: blocks nest more than {MAX_NESTING} deep",
                    line_of(source, markup.inner_start)
                ));
            }
        } else if name
            .strip_prefix("end")
            .is_some_and(|opened| BLOCK_OPENERS.contains(&opened))
        {
            depth = depth.saturating_sub(1);
        }
    }
    check_bracket_nesting(source)
}

/// Counts `[` and `(` from each `{{` or `{%` to the next `}}` or `%}`. Quotes are ignored on
/// purpose: that can only count more than Liquid nests, never less, even in a source Liquid
/// will reject.
fn check_bracket_nesting(source: &str) -> Result<(), String> {
    let bytes = source.as_bytes();
    let mut inside_markup = false;
    let mut depth = 0usize;
    for (position, byte) in bytes.iter().enumerate() {
        let next = bytes.get(position + 1).copied().unwrap_or_default();
        match (*byte, next) {
            (b'{', b'{' | b'%') => {
                inside_markup = true;
                depth = 0;
            }
            (b'}' | b'%', b'}') => inside_markup = false,
            (b'[' | b'(', _) if inside_markup => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "line {}: brackets nest more than {MAX_NESTING} deep",
                        line_of(source, position)
                    ));
                }
            }
            (b']' | b')', _) if inside_markup => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuses `include` and `render`: templates have no partials to include.
pub(crate) fn check_supported_tags(source: &str) -> Result<(), String> {
    for markup in live_markup(source) {
        if let Some(name @ ("include" | "render")) = markup.tag_name() {
            return Err(format!(
                "line {}: `{name}` is not supported: templates have no partials",
                line_of(source, markup.inner_start)
            ));
        }
    }
    Ok(())
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    source
        .as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_blocks(depth: usize) -> String {
        format!(
            "{}x{}",
            "{% if true %}".repeat(depth),
            "{% endif %}".repeat(depth)
        )
    }

    fn nested_brackets(depth: usize) -> String {
        format!("{{{{ {}b{} }}}}", "a[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        assert_eq!(check_nesting(&nested_blocks(MAX_NESTING)), Ok(()));
        assert_eq!(check_nesting(&nested_brackets(MAX_NESTING)), Ok(()));
        let siblings = "{% if a %}{% endif %}".repeat(100) + &"{{ a[b] }}".repeat(100);
        assert_eq!(check_nesting(&siblings), Ok(()));
    }

    #[test]
    fn deeper_nesting_is_refused_with_its_line() {
        let blocks = format!("hello\n{}", nested_blocks(MAX_NESTING + 1));
        assert_eq!(
            check_nesting(&blocks),
            Err("line 2: blocks nest more than 32 deep".to_owned())
        );
        let brackets = check_nesting(&nested_brackets(MAX_NESTING + 1));
        assert!(brackets.is_err_and(|e| e.contains("brackets nest")));
        let unterminated = format!("{{{{ {}", "a[".repeat(MAX_NESTING + 1));
        assert!(check_nesting(&unterminated).is_err());
    }

    #[test]
    fn text_outside_markup_may_hold_any_brackets() {
        let text = ":( ".repeat(100) + &"[".repeat(100);
        assert_eq!(check_nesting(&text), Ok(()));
    }

    #[test]
    fn partials_are_refused() {
        let refused = check_supported_tags("a\n{% include 'footer' %}");
        assert_eq!(
            refused,
            Err("line 2: `include` is not supported: templates have no partials".to_owned())
        );
        assert_eq!(
            check_supported_tags("{% raw %}{% render 'x' %}{% endraw %}"),
            Ok(())
        );
    }
}
