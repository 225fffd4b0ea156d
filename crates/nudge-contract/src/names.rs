//! The names a contract can declare: event names as the Track API takes them, and property
//! names that a path (`items[2].price`) can spell without ambiguity.

use nudge_core::limits::{MAX_ATTRIBUTE_NAME_BYTES, MAX_EVENT_NAME_BYTES};

/// Why `name` cannot be a declared event name, if it cannot.
pub fn event_name_problem(name: &str) -> Option<String> {
    common_problem(name, "an event name", MAX_EVENT_NAME_BYTES)
}

/// Why `name` cannot be a declared property (or person attribute) name, if it cannot.
pub fn property_name_problem(name: &str) -> Option<String> {
    if let Some(problem) = common_problem(name, "a property name", MAX_ATTRIBUTE_NAME_BYTES) {
        return Some(problem);
    }
    name.chars()
        .find(|c| matches!(c, '.' | '[' | ']'))
        .map(|c| format!("'{name}' cannot be a property name: '{c}' separates the steps of a path (declare nested objects under properties)"))
}

fn common_problem(name: &str, what: &str, max_bytes: usize) -> Option<String> {
    if name.trim().is_empty() {
        return Some(format!("{what} cannot be blank"));
    }
    if name.trim() != name {
        return Some(format!(
            "'{name}' cannot be {what}: it starts or ends with white space"
        ));
    }
    if name.len() > max_bytes {
        return Some(format!(
            "'{name}' cannot be {what}: it is longer than {max_bytes} bytes"
        ));
    }
    if name.chars().any(char::is_control) {
        return Some(format!(
            "{:?} cannot be {what}: it contains a control character",
            name
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_trimmed_bounded_printable_text() {
        assert_eq!(event_name_problem("Order Completed"), None);
        assert_eq!(event_name_problem("order.completed"), None);
        assert!(event_name_problem("  ").unwrap().contains("blank"));
        assert!(event_name_problem(" Order")
            .unwrap()
            .contains("white space"));
        assert!(event_name_problem("Order\nCompleted")
            .unwrap()
            .contains("control"));
        assert_eq!(event_name_problem(&"e".repeat(100)), None);
        assert!(event_name_problem(&"e".repeat(101))
            .unwrap()
            .contains("100 bytes"));
    }

    #[test]
    fn property_names_cannot_hold_path_punctuation() {
        assert_eq!(property_name_problem("product_id"), None);
        assert_eq!(property_name_problem("Product ID"), None);
        for bad in ["address.city", "items[0]", "a]"] {
            assert!(
                property_name_problem(bad).unwrap().contains("separates"),
                "{bad}"
            );
        }
        assert!(property_name_problem(&"p".repeat(151))
            .unwrap()
            .contains("150 bytes"));
        assert_eq!(property_name_problem(&"p".repeat(150)), None);
    }
}
