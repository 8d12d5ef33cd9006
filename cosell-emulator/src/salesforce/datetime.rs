//! Salesforce's date-time text: `2013-05-20T20:49:32.000+0000` (UTC, milliseconds, an offset
//! without a colon), and what the service accepts in bodies and SOQL.

use jiff::Timestamp;

/// Reads a date-time as Salesforce accepts it: RFC 3339 (`Z`, `+02:00`) or the `±HHMM` offset
/// Salesforce writes itself, with or without fractional seconds.
pub(crate) fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let (head, offset) = text.split_at_checked(text.len().checked_sub(5)?)?;
    let (sign, digits) = offset.split_at(1);
    if !matches!(sign, "+" | "-") || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{head}{sign}{}:{}", &digits[..2], &digits[2..])
        .parse()
        .ok()
}

/// Writes an instant as Salesforce does: UTC, milliseconds, `+0000`.
pub(crate) fn format(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_service_form() {
        let a = parse("2013-05-20T20:49:32.000+0000").unwrap();
        let b = parse("2013-05-20T22:49:32+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse("2013-05-20T15:49:32-0500"), Some(a));
        assert_eq!(format(a), "2013-05-20T20:49:32.000+0000");
        let fraction: Timestamp = "2025-01-02T03:04:05.678901Z".parse().unwrap();
        assert_eq!(format(fraction), "2025-01-02T03:04:05.678+0000");
        assert!(parse("yesterday").is_none());
        assert!(parse("2013-05-20T20:49:32.000+00x0").is_none());
    }
}
