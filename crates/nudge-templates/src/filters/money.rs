//! `money`: a number as an amount with two decimals and its currency
//! (`{{ 84 | money }}` → `$84.00`, `money: "EUR"` → `€84.00`, `money: "XYZ"` → `84.00 XYZ`).

use liquid_core::{
    Display_filter, Error, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Result, Runtime, Value, ValueView,
};

use super::unusable_input;

#[derive(Debug, FilterParameters)]
struct MoneyArgs {
    #[parameter(
        description = "ISO 4217 currency code; USD when absent.",
        arg_type = "str"
    )]
    currency: Option<Expression>,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "money",
    description = "Formats a number as an amount with two decimals and its currency.",
    parameters(MoneyArgs),
    parsed(MoneyFilter)
)]
pub(crate) struct Money;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "money"]
struct MoneyFilter {
    #[parameters]
    args: MoneyArgs,
}

impl Filter for MoneyFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let currency = match args.currency {
            Some(code) => currency_code(code.as_str())?,
            None => "USD".to_owned(),
        };
        let amount = amount(input).ok_or_else(|| unusable_input("money", "a number", input))?;
        Ok(Value::scalar(format_money(&amount, &currency)))
    }
}

/// An amount as a sign and its digits with exactly two decimals.
struct Amount {
    negative: bool,
    digits: String,
}

fn amount(input: &dyn ValueView) -> Option<Amount> {
    let scalar = input.as_scalar()?;
    if let Some(whole) = scalar.to_integer() {
        return Some(Amount {
            negative: whole < 0,
            digits: format!("{}.00", whole.unsigned_abs()),
        });
    }
    let number = scalar.to_float().filter(|n| n.is_finite())?;
    let digits = two_decimals(number.abs());
    Some(Amount {
        negative: number < 0.0 && digits != "0.00",
        digits,
    })
}

/// Rounds half a cent away from zero, as prices are rounded (0.125 → 0.13).
fn two_decimals(magnitude: f64) -> String {
    // Below 2^53 cents every whole number of cents is exact in an f64.
    const EXACT_CENTS: f64 = 9_007_199_254_740_992.0;
    let cents = (magnitude * 100.0).round();
    if cents < EXACT_CENTS {
        let cents = cents as u64;
        format!("{}.{:02}", cents / 100, cents % 100)
    } else {
        format!("{magnitude:.2}")
    }
}

fn currency_code(code: &str) -> Result<String> {
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(Error::with_msg(format!(
            "money expects a three-letter ISO 4217 currency code, got {code:?}"
        )))
    }
}

fn format_money(amount: &Amount, currency: &str) -> String {
    let sign = if amount.negative { "-" } else { "" };
    let symbol = match currency {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        _ => None,
    };
    match symbol {
        Some(symbol) => format!("{sign}{symbol}{}", amount.digits),
        None => format!("{sign}{} {currency}", amount.digits),
    }
}
