//! Listing the variables a template part reads where an undefined value fails the render, so
//! definitions can be linted against the events a journey receives. A best-effort walk over
//! the markup (the `liquid` crate keeps its syntax tree private): loop variables are mapped
//! back to their collection with `[]`, names the template assigns itself are left out, and so
//! are values read under a `default` filter or tested for existence (`{% if x %}`).

use std::collections::HashMap;

use crate::expression::{chain_has_default, tokens, Token, VariablePath};
use crate::markup::{live_markup, Markup, MarkupKind};

/// The distinct paths `source` reads strictly, in order of first appearance.
pub(crate) fn strict_reads(source: &str) -> Vec<String> {
    let mut walker = Walker::default();
    for markup in live_markup(source) {
        walker.visit(&markup);
    }
    walker.reads
}

#[derive(Default)]
struct Walker {
    reads: Vec<String>,
    loops: Vec<LoopFrame>,
    /// Names the template assigns: an alias of a context path, or `None` for a value of its own.
    assigned: HashMap<String, Option<String>>,
}

struct LoopFrame {
    variable: String,
    /// The collection's path; `None` for ranges and collections of the template's own.
    collection: Option<String>,
    loop_object: &'static str,
}

impl Walker {
    fn visit(&mut self, markup: &Markup<'_>) {
        let (arguments, start) = markup.arguments();
        let tokens = tokens(arguments, start);
        if markup.kind == MarkupKind::Output {
            self.chain(&tokens);
            return;
        }
        match markup.tag_name().unwrap_or_default() {
            "assign" => self.assign(&tokens),
            "capture" | "increment" | "decrement" => {
                if let Some(Token::Variable(name)) = tokens.first() {
                    self.assigned.insert(name.root.clone(), None);
                }
            }
            "for" => self.enter_loop(&tokens, "forloop"),
            "tablerow" => self.enter_loop(&tokens, "tablerowloop"),
            "endfor" | "endtablerow" => {
                self.loops.pop();
            }
            "if" | "elsif" | "unless" => self.conditions(&tokens),
            "case" | "cycle" => self.read_all(&tokens, &[]),
            "when" => self.read_all(&tokens, &["or"]),
            _ => {}
        }
    }

    /// `value | filter: argument, key: argument | …`; the first value is tolerated when the
    /// chain has a `default`.
    fn chain(&mut self, chain: &[Token]) {
        let tolerant = chain_has_default(chain);
        for (position, token) in chain.iter().enumerate() {
            let Token::Variable(path) = token else {
                continue;
            };
            let previous = position.checked_sub(1).and_then(|p| chain.get(p));
            let next = chain.get(position + 1);
            let is_filter_name = previous.is_some_and(|t| t.is_symbol("|"));
            let is_keyword = previous.is_some_and(|t| t.is_symbol(":") || t.is_symbol(","))
                && next.is_some_and(|t| t.is_symbol(":"));
            if is_filter_name || is_keyword {
                continue;
            }
            if position == 0 && tolerant {
                for inner in path.dynamic_indexes() {
                    self.read(inner);
                }
                continue;
            }
            self.read(path);
        }
    }

    fn assign(&mut self, tokens: &[Token]) {
        let Some(Token::Variable(name)) = tokens.first() else {
            return;
        };
        let Some(equals) = tokens.iter().position(|t| t.is_symbol("=")) else {
            return;
        };
        let chain = tokens.get(equals + 1..).unwrap_or_default();
        self.chain(chain);
        let alias = match chain {
            [Token::Variable(path)] => self.resolve(path),
            _ => None,
        };
        self.assigned.insert(name.root.clone(), alias);
    }

    fn enter_loop(&mut self, tokens: &[Token], loop_object: &'static str) {
        let Some(Token::Variable(variable)) = tokens.first() else {
            return;
        };
        let rest = tokens.get(2..).unwrap_or_default();
        let (collection, parameters) = match rest.first() {
            Some(Token::Variable(path)) => {
                self.read(path);
                (self.resolve(path), rest.get(1..).unwrap_or_default())
            }
            Some(token) if token.is_symbol("(") => {
                let close = rest
                    .iter()
                    .position(|t| t.is_symbol(")"))
                    .unwrap_or(rest.len());
                self.read_all(rest.get(..close).unwrap_or_default(), &[]);
                (None, rest.get(close + 1..).unwrap_or_default())
            }
            _ => (None, rest.get(1..).unwrap_or_default()),
        };
        for (position, token) in parameters.iter().enumerate() {
            let after_colon = position
                .checked_sub(1)
                .and_then(|p| parameters.get(p))
                .is_some_and(|t| t.is_symbol(":"));
            if let (Token::Variable(path), true) = (token, after_colon) {
                self.read(path);
            }
        }
        self.loops.push(LoopFrame {
            variable: variable.root.clone(),
            collection,
            loop_object,
        });
    }

    /// `a and b or c == d`: a lone value is an existence test (undefined is simply false);
    /// both sides of a comparison must be defined.
    fn conditions(&mut self, tokens: &[Token]) {
        for condition in tokens.split(|t| t.is_bare_word("and") || t.is_bare_word("or")) {
            match condition {
                [Token::Variable(path)] => {
                    for inner in path.dynamic_indexes() {
                        self.read(inner);
                    }
                }
                _ => self.read_all(condition, &["contains"]),
            }
        }
    }

    fn read_all(&mut self, tokens: &[Token], keywords: &[&str]) {
        for token in tokens {
            if let Token::Variable(path) = token {
                if !path
                    .bare_word()
                    .is_some_and(|word| keywords.contains(&word))
                {
                    self.read(path);
                }
            }
        }
    }

    fn read(&mut self, path: &VariablePath) {
        for inner in path.dynamic_indexes() {
            self.read(inner);
        }
        if let Some(resolved) = self.resolve(path) {
            if !self.reads.contains(&resolved) {
                self.reads.push(resolved);
            }
        }
    }

    /// The context path a variable stands for; `None` for the template's own values.
    fn resolve(&self, path: &VariablePath) -> Option<String> {
        for frame in self.loops.iter().rev() {
            if path.root == frame.variable {
                let collection = frame.collection.as_ref()?;
                return Some(path.display_with_root(&format!("{collection}[]")));
            }
            if path.root == frame.loop_object {
                return None;
            }
        }
        match self.assigned.get(&path.root) {
            Some(alias) => alias.as_ref().map(|base| path.display_with_root(base)),
            None => Some(path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, expected: &[&str]) {
        assert_eq!(strict_reads(source), expected, "reads of {source:?}");
    }

    #[test]
    fn outputs_and_filter_arguments() {
        check(
            "{{ customer.first_name }} {{ event.total | plus: event.tax | money: event.currency }}",
            &[
                "customer.first_name",
                "event.total",
                "event.tax",
                "event.currency",
            ],
        );
    }

    #[test]
    fn defaults_tolerate_their_value_but_not_their_argument() {
        check(
            "{{ customer.first_name | default: customer.email }} {{ x | upcase | default: 'y' }}",
            &["customer.email"],
        );
    }

    #[test]
    fn loops_map_members_to_their_collection() {
        check(
            "{% for item in event.items limit: event.max %}{{ item.name }}{{ forloop.index }}\
             {% for v in item.variants %}{{ v.sku }}{% endfor %}{% endfor %}{{ item.name }}",
            &[
                "event.items",
                "event.max",
                "event.items[].name",
                "event.items[].variants",
                "event.items[].variants[].sku",
                "item.name",
            ],
        );
    }

    #[test]
    fn assigned_names_are_the_templates_own_or_aliases() {
        check(
            "{% assign n = customer.nick | default: 'you' %}{{ n }}{% assign items = event.items %}\
             {% for i in items %}{{ i.price }}{% endfor %}{% capture c %}x{% endcapture %}{{ c }}",
            &["event.items", "event.items[].price"],
        );
    }

    #[test]
    fn existence_tests_are_tolerant_comparisons_are_not() {
        check(
            "{% if customer.vip and event.total > 100 or event.tags contains 'gift' %}y{% endif %}\
             {% unless customer.opted_out %}z{% endunless %}",
            &["event.total", "event.tags"],
        );
    }

    #[test]
    fn raw_and_comment_contents_are_not_read() {
        check(
            "{% raw %}{{ a }}{% endraw %}{% comment %}{{ b }}{% endcomment %}{{ c }}",
            &["c"],
        );
    }

    #[test]
    fn ranges_case_and_dynamic_indexes() {
        check(
            "{% for n in (1..event.count) %}{{ n }}{% endfor %}{% case event.kind %}{% when 'a' or event.other %}{% endcase %}{{ customer[event.key] }}",
            &["event.count", "event.kind", "event.other", "event.key", "customer[]"],
        );
    }
}
