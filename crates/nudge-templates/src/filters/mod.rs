//! The filters Nudge adds to Liquid's standard library: `money` and `local_date`.

mod local_date;
mod money;

pub(crate) use local_date::LocalDate;
pub(crate) use money::Money;

use liquid_core::{Error, ValueView};

/// The error a filter returns for an input it cannot use, naming what it got.
fn unusable_input(filter: &str, expected: &str, input: &dyn ValueView) -> Error {
    let got = if input.is_nil() {
        "nil".to_owned()
    } else {
        format!("{} {:?}", input.type_name(), input.to_kstr().as_str())
    };
    Error::with_msg(format!("{filter} expects {expected}, got {got}"))
}
