//! `local_date: "<strftime>"`: a point in time (unix seconds or an RFC 3339 string) written in
//! the person's time zone, `customer.timezone` (IANA), or UTC when that is absent or invalid.
//! The zone is read from the render context of the message being rendered, never from
//! anything shared between renders.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use liquid_core::model::ScalarCow;
use liquid_core::{
    Display_filter, Error, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Result, Runtime, Value, ValueView,
};

use super::unusable_input;

/// Largest plausible unix time in seconds (year 5138); anything larger is milliseconds.
const MAX_UNIX_SECONDS: f64 = 1e11;

#[derive(Debug, FilterParameters)]
struct LocalDateArgs {
    #[parameter(
        description = "The strftime format to write the date in.",
        arg_type = "str"
    )]
    format: Expression,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "local_date",
    description = "Writes unix seconds or an RFC 3339 time in the person's time zone.",
    parameters(LocalDateArgs),
    parsed(LocalDateFilter)
)]
pub(crate) struct LocalDate;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "local_date"]
struct LocalDateFilter {
    #[parameters]
    args: LocalDateArgs,
}

impl Filter for LocalDateFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let instant = instant(input)?;
        let local = instant.with_timezone(&person_zone(runtime));
        let mut written = String::new();
        write!(written, "{}", local.format(args.format.as_str())).map_err(|_| {
            Error::with_msg(format!(
                "local_date: invalid strftime format {:?}",
                args.format.as_str()
            ))
        })?;
        Ok(Value::scalar(written))
    }
}

fn instant(input: &dyn ValueView) -> Result<DateTime<Utc>> {
    let expected = "unix seconds or an RFC 3339 time";
    let scalar = input
        .as_scalar()
        .ok_or_else(|| unusable_input("local_date", expected, input))?;
    let seconds = scalar
        .to_integer()
        .map(|whole| whole as f64)
        .or_else(|| scalar.to_float().filter(|n| n.is_finite()));
    if let Some(seconds) = seconds {
        if seconds.abs() > MAX_UNIX_SECONDS {
            return Err(Error::with_msg(format!(
                "local_date expects unix seconds; {seconds} looks like milliseconds"
            )));
        }
        let whole = seconds.floor();
        let nanos = ((seconds - whole) * 1e9) as u32;
        return DateTime::from_timestamp(whole as i64, nanos)
            .ok_or_else(|| unusable_input("local_date", expected, input));
    }
    DateTime::parse_from_rfc3339(scalar.to_kstr().as_str())
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| unusable_input("local_date", expected, input))
}

/// `customer.timezone` of the message being rendered, UTC when absent or not an IANA zone.
fn person_zone(runtime: &dyn Runtime) -> Tz {
    let path = [ScalarCow::new("customer"), ScalarCow::new("timezone")];
    runtime
        .try_get(&path)
        .and_then(|zone| zone.as_scalar().map(|name| name.to_kstr().into_owned()))
        .and_then(|name| name.as_str().parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}
