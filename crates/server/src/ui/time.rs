//! The control database gives times as RFC 3339 UTC text
//! (`2024-05-01T12:00:00Z`); pages show them shorter, and durations between them.

/// Seconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_utc(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 20 || bytes[4] != b'-' || bytes[10] != b'T' || bytes[19] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// `2024-05-01 12:00:00 UTC`.
pub fn display(text: &str) -> String {
    match parse_utc(text) {
        Some(_) => format!("{} {} UTC", &text[..10], &text[11..19]),
        None => text.to_string(),
    }
}

/// Seconds between two RFC 3339 times, if both parse and are in order.
pub fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let (from, to) = (parse_utc(from)?, parse_utc(to)?);
    (to >= from).then_some(to - from)
}

/// `45 s`, `3 min 05 s`, `2 h 07 min`.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// Now, in the same seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_utc_times_parse_to_unix_seconds() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_utc("2026-11-28T06:33:24Z"), Some(1_795_847_604));
        assert_eq!(parse_utc("2026-11-28 06:33:24"), None);
        assert_eq!(parse_utc("2026-13-28T06:33:24Z"), None);
        assert_eq!(parse_utc("garbage"), None);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(185), "3 min 05 s");
        assert_eq!(duration(7620), "2 h 07 min");
        assert_eq!(
            seconds_between("2026-11-28T06:33:24Z", "2026-11-28T06:35:00Z"),
            Some(96)
        );
        assert_eq!(
            seconds_between("2026-11-28T06:35:00Z", "2026-11-28T06:33:24Z"),
            None
        );
        assert_eq!(display("2026-11-28T06:33:24Z"), "2026-11-28 06:33:24 UTC");
    }
}
