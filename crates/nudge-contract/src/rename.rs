//! Likely renames: which declared name an unknown one most likely replaces. Names are first
//! normalised (case, spaces, `_`, `-`, `.` and camelCase all become single spaces between
//! lower-case words, so `order_completed`, `OrderCompleted` and `order-completed` all read
//! `order completed`); a declared name with the same normalised form is a rename, and so is one
//! within a small edit distance of it (see [`RENAME_MAX_EDITS`]).

/// The most edits (insertions, deletions, substitutions, swaps of neighbours) between two
/// normalised names for one to be a likely rename of the other…
pub const RENAME_MAX_EDITS: usize = 2;

/// …and the most edits per character of the longer normalised name, in fifths: short names
/// must be closer (`id` is no rename of `ip`, but `cart id` is one of `card id`).
pub const RENAME_MAX_EDITS_PER_FIVE_CHARS: usize = 1;

/// `name` as lower-case words separated by single spaces. Word breaks: spaces, `_`, `-`,
/// `.`, a lower-case letter or digit followed by an upper-case one (`orderCompleted`), and the
/// last capital of a run followed by a lower-case letter (`HTTPServer` → `http server`).
pub fn normalise(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    let mut pending_break = false;
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() || matches!(c, '_' | '-' | '.') {
            pending_break = true;
            continue;
        }
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let camel = c.is_uppercase()
            && previous.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if (pending_break || camel) && !out.is_empty() {
            out.push(' ');
        }
        pending_break = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// The candidates that `name` most likely renames, closest first (same normalised form, then
/// fewer edits, then by name). `name` itself is never among them.
pub fn likely_renames<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let normalised = normalise(name);
    let mut found: Vec<(usize, &'a str)> = candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .filter_map(|candidate| {
            let other = normalise(candidate);
            let edits = strsim::osa_distance(&normalised, &other);
            let longest = normalised.chars().count().max(other.chars().count());
            let close =
                edits <= RENAME_MAX_EDITS && edits * 5 <= longest * RENAME_MAX_EDITS_PER_FIVE_CHARS;
            close.then_some((edits, candidate))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, candidate)| candidate).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_name_normalise_alike() {
        for spelling in [
            "Order Completed",
            "order_completed",
            "OrderCompleted",
            "orderCompleted",
            "order-completed",
            "ORDER_COMPLETED",
            "  order   completed ",
            "order.completed",
        ] {
            assert_eq!(normalise(spelling), "order completed", "{spelling}");
        }
        assert_eq!(normalise("HTTPServerError"), "http server error");
        assert_eq!(normalise("step2Done"), "step2 done");
        assert_eq!(normalise("productID"), "product id");
        assert_eq!(normalise("Ärger_Über"), "ärger über");
        assert_eq!(normalise(""), "");
    }

    const DECLARED: [&str; 5] = [
        "Order Completed",
        "Order Refunded",
        "Product Viewed",
        "Added to Cart",
        "Checkout Started",
    ];

    #[test]
    fn renamed_events_point_at_their_original() {
        for renamed in [
            "order_completed",
            "OrderCompleted",
            "Order Complete",
            "order-completed",
            "Ordre Completed",
            "ordercompleted",
        ] {
            assert_eq!(
                likely_renames(renamed, DECLARED),
                vec!["Order Completed"],
                "{renamed}"
            );
        }
        assert_eq!(
            likely_renames("added_to_cart", DECLARED),
            vec!["Added to Cart"]
        );
    }

    #[test]
    fn different_events_are_not_renames() {
        assert!(likely_renames("Product Viewed", ["Order Completed"]).is_empty());
        for other in ["Order Created", "Product Clicked", "Signed Up", "Order"] {
            assert!(likely_renames(other, DECLARED).is_empty(), "{other}");
        }
        assert!(likely_renames("Order Completed", DECLARED).is_empty());
        // Three edits: within a fifth of 15 characters, but more than two.
        assert!(likely_renames("Order Compiled", DECLARED).is_empty());
        assert_eq!(
            likely_renames("Ordr Cmpleted", DECLARED),
            vec!["Order Completed"]
        );
    }

    #[test]
    fn short_names_must_be_closer() {
        assert!(likely_renames("ip", ["id"]).is_empty());
        assert_eq!(likely_renames("card_id", ["cart_id"]), vec!["cart_id"]);
        assert_eq!(likely_renames("orderId", ["order_id"]), vec!["order_id"]);
        assert!(likely_renames("sku", ["skus"]).is_empty());
    }

    #[test]
    fn the_closest_comes_first() {
        assert_eq!(
            likely_renames("order_completed", ["Orders Completed", "Order Completed"]),
            vec!["Order Completed", "Orders Completed"]
        );
    }
}
