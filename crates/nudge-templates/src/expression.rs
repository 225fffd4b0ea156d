//! Reading the inside of one Liquid tag (`{{ … }}` or `{% … %}`) into tokens: literals,
//! variable paths with their byte spans, and symbols. It follows the grammar of the `liquid`
//! crate closely enough to find what a template reads; it never decides whether the source is
//! valid (the `liquid` parser does that first) and never panics on any text.

use std::ops::Range;

/// One token of a tag's contents; spans are byte offsets into the text given to [`tokens`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A string, number, boolean, `nil`, `empty` or `blank`.
    Literal,
    Variable(VariablePath),
    /// `|`, `:`, `,`, `(`, `)`, `..`, `=`, comparison operators, or any other character.
    Symbol(String),
}

/// A variable as written: a root name and the indexes after it (`event.items[0].name`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VariablePath {
    pub root: String,
    pub indexes: Vec<Index>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Index {
    /// `.name` or `["name"]`.
    Key(String),
    /// A number in brackets: one member of an array.
    Member,
    /// A variable in brackets (`[event.key]`): which member or key is only known at render.
    Dynamic(Box<VariablePath>),
    /// `[nil]`, `[true]` and the like.
    OtherLiteral,
}

impl VariablePath {
    /// A lone word such as a tag keyword (`in`, `and`, `reversed`) or a name being assigned.
    pub fn bare_word(&self) -> Option<&str> {
        self.indexes.is_empty().then_some(self.root.as_str())
    }

    /// The path in the form [`crate::VariableRef`] uses: dots for keys, `[]` for members.
    pub fn display(&self) -> String {
        let mut text = self.root.clone();
        for index in &self.indexes {
            push_index(&mut text, index);
        }
        text
    }

    /// The path with its root replaced by `base` (a loop variable mapped to its collection).
    pub fn display_with_root(&self, base: &str) -> String {
        let mut text = base.to_owned();
        for index in &self.indexes {
            push_index(&mut text, index);
        }
        text
    }

    /// Every variable this path reads inside its brackets (`[event.key]` reads `event.key`).
    pub fn dynamic_indexes(&self) -> impl Iterator<Item = &VariablePath> {
        self.indexes.iter().filter_map(|index| match index {
            Index::Dynamic(inner) => Some(inner.as_ref()),
            _ => None,
        })
    }
}

fn push_index(text: &mut String, index: &Index) {
    match index {
        Index::Key(key) if is_plain_key(key) => {
            text.push('.');
            text.push_str(key);
        }
        Index::Key(key) => {
            text.push_str("[\"");
            text.push_str(key);
            text.push_str("\"]");
        }
        Index::Member | Index::Dynamic(_) | Index::OtherLiteral => text.push_str("[]"),
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

const LITERAL_WORDS: [&str; 6] = ["nil", "null", "empty", "blank", "true", "false"];

/// Splits a tag's contents into tokens. `offset` is added to every span so that spans point
/// into the whole template source.
pub(crate) fn tokens(text: &str, offset: usize) -> Vec<Token> {
    let mut lexer = Lexer {
        text,
        position: 0,
        offset,
    };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token() {
        tokens.push(token);
    }
    tokens
}

struct Lexer<'t> {
    text: &'t str,
    position: usize,
    offset: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.position..)?.chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.text.get(self.position..)?.chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += c.len_utf8();
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn next_token(&mut self) -> Option<Token> {
        self.skip_whitespace();
        let c = self.peek()?;
        if c == '\'' || c == '"' {
            self.string();
            return Some(Token::Literal);
        }
        if c.is_ascii_digit()
            || ((c == '-' || c == '+') && self.peek_second().is_some_and(|d| d.is_ascii_digit()))
        {
            self.number();
            return Some(Token::Literal);
        }
        if is_identifier_start(c) {
            let start = self.position;
            let root = self.identifier();
            if LITERAL_WORDS.contains(&root.as_str()) {
                return Some(Token::Literal);
            }
            return Some(Token::Variable(self.path_after(root, start)));
        }
        Some(Token::Symbol(self.symbol()))
    }

    fn string(&mut self) -> String {
        let quote = self.bump().unwrap_or('"');
        let mut content = String::new();
        while let Some(c) = self.bump() {
            if c == quote {
                break;
            }
            content.push(c);
        }
        content
    }

    fn number(&mut self) {
        self.bump();
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.position;
        while self.peek().is_some_and(is_identifier_part) {
            self.bump();
        }
        self.text
            .get(start..self.position)
            .unwrap_or_default()
            .to_owned()
    }

    fn path_after(&mut self, root: String, start: usize) -> VariablePath {
        let mut indexes = Vec::new();
        loop {
            match self.peek() {
                Some('.') if self.peek_second().is_some_and(is_identifier_start) => {
                    self.bump();
                    indexes.push(Index::Key(self.identifier()));
                }
                Some('[') => {
                    self.bump();
                    indexes.push(self.bracket_index());
                }
                _ => break,
            }
        }
        VariablePath {
            root,
            indexes,
            span: start + self.offset..self.position + self.offset,
        }
    }

    fn bracket_index(&mut self) -> Index {
        self.skip_whitespace();
        let index = match self.peek() {
            Some('\'' | '"') => Index::Key(self.string()),
            Some(c)
                if c.is_ascii_digit()
                    || ((c == '-' || c == '+')
                        && self.peek_second().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.number();
                Index::Member
            }
            Some(c) if is_identifier_start(c) => {
                let start = self.position;
                let root = self.identifier();
                if LITERAL_WORDS.contains(&root.as_str()) {
                    Index::OtherLiteral
                } else {
                    Index::Dynamic(Box::new(self.path_after(root, start)))
                }
            }
            _ => Index::OtherLiteral,
        };
        self.skip_whitespace();
        if self.peek() == Some(']') {
            self.bump();
        }
        index
    }

    fn symbol(&mut self) -> String {
        const PAIRS: [&str; 6] = ["..", "==", "!=", "<>", "<=", ">="];
        let rest = self.text.get(self.position..).unwrap_or_default();
        if let Some(pair) = PAIRS.iter().find(|pair| rest.starts_with(**pair)) {
            self.position += pair.len();
            return (*pair).to_owned();
        }
        self.bump().map(String::from).unwrap_or_default()
    }
}

fn is_identifier_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '-'
}

fn is_identifier_part(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Token {
    pub fn is_symbol(&self, symbol: &str) -> bool {
        matches!(self, Token::Symbol(s) if s == symbol)
    }

    pub fn is_bare_word(&self, word: &str) -> bool {
        matches!(self, Token::Variable(path) if path.bare_word() == Some(word))
    }
}

/// Whether a filter chain (`value | filter: args | …`) applies `default` anywhere: then its
/// first value may be undefined.
pub(crate) fn chain_has_default(chain: &[Token]) -> bool {
    chain
        .windows(2)
        .any(|pair| pair[0].is_symbol("|") && pair[1].is_bare_word("default"))
}

/// Reads a variable path as Liquid prints it in its error traces (`customer["list"][0]`).
pub(crate) fn parse_path(text: &str) -> Option<VariablePath> {
    match tokens(text, 0).into_iter().next() {
        Some(Token::Variable(path)) => Some(path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(text: &str) -> Vec<String> {
        tokens(text, 0)
            .into_iter()
            .filter_map(|token| match token {
                Token::Variable(path) => Some(path.display()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn paths_keys_members_and_dynamic_indexes() {
        assert_eq!(
            paths(r#"event.items[0].name | default: customer["first name"]"#),
            vec!["event.items[].name", "default", "customer[\"first name\"]"]
        );
        assert_eq!(paths("a[b.c].d"), vec!["a[].d"]);
        let Some(Token::Variable(path)) = tokens("a[b.c]", 0).into_iter().next() else {
            panic!("expected a variable");
        };
        let inner: Vec<String> = path.dynamic_indexes().map(VariablePath::display).collect();
        assert_eq!(inner, vec!["b.c"]);
    }

    #[test]
    fn literals_and_symbols_are_not_variables() {
        let all = tokens("'x' 1.5 -3 true nil (1..n) >= x", 0);
        let literals = all.iter().filter(|t| **t == Token::Literal).count();
        assert_eq!(literals, 6);
        assert_eq!(paths("'x' 1.5 -3 true nil (1..n) >= x"), vec!["n", "x"]);
        assert!(all.contains(&Token::Symbol("..".into())));
        assert!(all.contains(&Token::Symbol(">=".into())));
    }

    #[test]
    fn spans_point_into_the_whole_source() {
        let Some(Token::Variable(path)) = tokens("  customer.first_name", 10).into_iter().next()
        else {
            panic!("expected a variable");
        };
        assert_eq!(path.span, 12..31);
    }

    #[test]
    fn liquid_trace_paths_are_read_back() {
        let path = parse_path(r#"customer["list"][0]"#).map(|p| p.display());
        assert_eq!(path.as_deref(), Some("customer.list[]"));
    }

    #[test]
    fn odd_text_never_panics() {
        for text in ["[", "a[", "a[\"", "'", "a.", "é.ü[ö", "-", "a[-", "]]]"] {
            let _ = tokens(text, 0);
        }
    }
}
