//! Durations as conditions write them: `30m`, `24h`, `7d`, `2w`, `90s` (one integer and a unit).

/// A duration in milliseconds.
pub type DurationMs = i64;

/// `"7d"` → 7 days in ms. `None` for anything else (no unit, zero, negative, overflow).
pub fn parse_duration(text: &str) -> Option<DurationMs> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok().filter(|n| *n > 0)?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("30m"), Some(1_800_000));
        assert_eq!(parse_duration("24h"), Some(86_400_000));
        assert_eq!(parse_duration("7d"), Some(604_800_000));
        assert_eq!(parse_duration("2w"), Some(1_209_600_000));
        for bad in [
            "",
            "7",
            "d",
            "0d",
            "-1d",
            "7 days",
            "1.5h",
            "99999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
