//! Field paths into JSON: `plan`, `address.city`, `items[0].sku`, `items[].category` (`[]`
//! means "any element").

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Each,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    steps: Vec<Step>,
}

impl FieldPath {
    /// Parses a path; `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("field must not be empty".into());
        }
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(at) => (&part[..at], &part[at..]),
                None => (part, ""),
            };
            if name.is_empty() {
                return Err(format!("field '{text}' has an empty name"));
            }
            steps.push(Step::Key(name.to_string()));
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("field '{text}' has an unclosed '['"))?;
                let inside = &rest[1..close];
                if !rest.starts_with('[') {
                    return Err(format!("field '{text}' has text after ']'"));
                }
                steps.push(match inside {
                    "" => Step::Each,
                    n => Step::Index(
                        n.parse()
                            .map_err(|_| format!("field '{text}' has a bad index '[{n}]'"))?,
                    ),
                });
                rest = &rest[close + 1..];
            }
        }
        Ok(Self {
            text: text.to_string(),
            steps,
        })
    }

    /// The top-level attribute the path starts at.
    pub fn root(&self) -> &str {
        match &self.steps[0] {
            Step::Key(k) => k,
            _ => "",
        }
    }

    /// Every value the path reaches in `root` (several through `[]`; none if missing).
    pub fn resolve<'a>(&self, root: &'a serde_json::Map<String, Value>) -> Vec<&'a Value> {
        let mut current: Vec<&'a Value> = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            if i == 0 {
                let Step::Key(key) = step else {
                    return Vec::new();
                };
                match root.get(key) {
                    Some(v) => current.push(v),
                    None => return Vec::new(),
                }
                continue;
            }
            current = current
                .into_iter()
                .flat_map(|v| -> Vec<&'a Value> {
                    match (step, v) {
                        (Step::Key(k), Value::Object(m)) => m.get(k).into_iter().collect(),
                        (Step::Index(n), Value::Array(a)) => a.get(*n).into_iter().collect(),
                        (Step::Each, Value::Array(a)) => a.iter().collect(),
                        _ => Vec::new(),
                    }
                })
                .collect();
        }
        current.into_iter().filter(|v| !v.is_null()).collect()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(path: &str, doc: Value) -> Vec<Value> {
        let p = FieldPath::parse(path).unwrap();
        p.resolve(doc.as_object().unwrap())
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn dot_index_and_each() {
        let doc = json!({"address": {"city": "Lyon"}, "items": [{"sku": "a", "category": "serum"},
                         {"sku": "b", "category": "cleanser"}], "n": null});
        assert_eq!(resolve("address.city", doc.clone()), vec![json!("Lyon")]);
        assert_eq!(resolve("items[1].sku", doc.clone()), vec![json!("b")]);
        assert_eq!(
            resolve("items[].category", doc.clone()),
            vec![json!("serum"), json!("cleanser")]
        );
        assert!(resolve("items[5].sku", doc.clone()).is_empty());
        assert!(resolve("missing.x", doc.clone()).is_empty());
        assert!(resolve("n", doc).is_empty(), "null counts as absent");
    }

    #[test]
    fn bad_paths_say_why() {
        for bad in ["", "a..b", "a[", "a[x]", ".a", "a[0]b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            FieldPath::parse("items[].category").unwrap().root(),
            "items"
        );
    }
}
