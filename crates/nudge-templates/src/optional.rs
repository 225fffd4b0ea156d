//! Making `default` work on undefined values. The `liquid` crate fails as soon as a filter
//! chain's first value is undefined, before any filter runs, so `{{ x | default: "y" }}`
//! would fail like `{{ x }}`. Before compiling, a chain that applies `default` has its first
//! value rewritten from `x` to `nil | __nudge_optional: x`; that filter looks `x` up without
//! failing and yields nil when it is undefined, and `default` does the rest. Every other read
//! stays strict. The rewrite keeps every line where it was, so Liquid's line numbers hold.

use std::fmt;

use liquid_core::parser::{FilterArguments, FilterReflection, ParameterReflection, ParseFilter};
use liquid_core::runtime::{Expression, Runtime};
use liquid_core::{Error, Filter, Result, Value, ValueView};

use crate::expression::{chain_has_default, tokens, Token};
use crate::markup::{live_markup, MarkupKind};

/// The name of the lenient lookup filter the rewrite inserts.
pub(crate) const OPTIONAL_FILTER: &str = "__nudge_optional";

/// `source` with the first value of every chain that applies `default` looked up leniently.
pub(crate) fn tolerate_defaults(source: &str) -> String {
    let mut replacements = Vec::new();
    for markup in live_markup(source) {
        let (arguments, start) = markup.arguments();
        let all = tokens(arguments, start);
        let chain = match (markup.kind, markup.tag_name()) {
            (MarkupKind::Output, _) => all.as_slice(),
            (MarkupKind::Tag, Some("assign")) => match all.iter().position(|t| t.is_symbol("=")) {
                Some(equals) => all.get(equals + 1..).unwrap_or_default(),
                None => continue,
            },
            _ => continue,
        };
        if let (Some(Token::Variable(path)), true) = (chain.first(), chain_has_default(chain)) {
            replacements.push(path.span.clone());
        }
    }
    let mut rewritten = String::with_capacity(source.len() + replacements.len() * 24);
    let mut copied = 0;
    for span in replacements {
        let (Some(before), Some(value)) =
            (source.get(copied..span.start), source.get(span.clone()))
        else {
            continue;
        };
        rewritten.push_str(before);
        rewritten.push_str("nil | ");
        rewritten.push_str(OPTIONAL_FILTER);
        rewritten.push_str(": ");
        rewritten.push_str(value);
        copied = span.end;
    }
    rewritten.push_str(source.get(copied..).unwrap_or_default());
    rewritten
}

/// Registers `__nudge_optional: value`: the value, or nil when it is undefined.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OptionalLookup;

impl FilterReflection for OptionalLookup {
    fn name(&self) -> &str {
        OPTIONAL_FILTER
    }

    fn description(&self) -> &str {
        "Looks a variable up, yielding nil instead of failing when it is undefined."
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for OptionalLookup {
    fn parse(&self, mut arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let looked_up = arguments
            .positional
            .next()
            .ok_or_else(|| Error::with_msg("expected the value to look up"))?;
        if arguments.positional.next().is_some() || arguments.keyword.next().is_some() {
            return Err(Error::with_msg("expected exactly one value to look up"));
        }
        Ok(Box::new(OptionalLookupFilter { looked_up }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct OptionalLookupFilter {
    looked_up: Expression,
}

impl fmt::Display for OptionalLookupFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.looked_up)
    }
}

impl Filter for OptionalLookupFilter {
    fn evaluate(&self, _input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        Ok(self
            .looked_up
            .try_evaluate(runtime)
            .map(|value| value.into_owned())
            .unwrap_or(Value::Nil))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_chains_with_default_are_rewritten() {
        let source = "{{ a | default: 'x' }}\n{{ b }}\n{% assign c = d.e | upcase | default: f %}\
                      {% raw %}{{ g | default: 1 }}{% endraw %}";
        let expected = "{{ nil | __nudge_optional: a | default: 'x' }}\n{{ b }}\n\
                        {% assign c = nil | __nudge_optional: d.e | upcase | default: f %}\
                        {% raw %}{{ g | default: 1 }}{% endraw %}";
        assert_eq!(tolerate_defaults(source), expected);
    }

    #[test]
    fn literals_and_untouched_sources_stay_as_they_are() {
        for source in [
            "{{ 'a' | default: 'b' }}",
            "plain é text",
            "{{ x | upcase }}",
        ] {
            assert_eq!(tolerate_defaults(source), source);
        }
    }
}
