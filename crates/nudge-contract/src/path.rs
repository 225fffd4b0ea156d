//! Where a value sits inside an event's properties, kept as a chain of borrowed steps on the
//! stack while walking, and spelled out (`items[2].price`, or `items[].price` for drift, which
//! aggregates over elements) only when something is reported: the happy path allocates nothing.

/// One step down: into a key of an object, or an element of an array.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A step and the path it continues.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

/// How array positions are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indices {
    /// `items[2].price`: the element, as violations name it.
    Exact,
    /// `items[].price`: any element, as drift aggregates it.
    Any,
}

impl<'a> Path<'a> {
    pub(crate) fn new(parent: Option<&'a Path<'a>>, step: Step<'a>) -> Self {
        Self { parent, step }
    }

    /// The key this path ends at, if it ends at a key.
    pub(crate) fn last_key(&self) -> Option<&'a str> {
        match self.step {
            Step::Key(key) => Some(key),
            Step::Index(_) => None,
        }
    }

    pub(crate) fn render(&self, indices: Indices) -> String {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(path) = at {
            steps.push(path.step);
            at = path.parent;
        }
        let mut out = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Step::Index(i) => match indices {
                    Indices::Exact => out.push_str(&format!("[{i}]")),
                    Indices::Any => out.push_str("[]"),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_spell_keys_and_positions() {
        let items = Path::new(None, Step::Key("items"));
        let second = Path::new(Some(&items), Step::Index(2));
        let price = Path::new(Some(&second), Step::Key("price"));
        assert_eq!(price.render(Indices::Exact), "items[2].price");
        assert_eq!(price.render(Indices::Any), "items[].price");
        let nested = Path::new(Some(&second), Step::Index(0));
        assert_eq!(nested.render(Indices::Exact), "items[2][0]");
        assert_eq!(items.render(Indices::Exact), "items");
        assert_eq!(price.last_key(), Some("price"));
        assert_eq!(second.last_key(), None);
    }
}
