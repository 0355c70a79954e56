//! Times as pages show them (in UTC, to the second), and durations between
//! them.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const SHOWN: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// `2024-05-01 12:00:00 UTC`.
pub fn display(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(SHOWN)
        .expect("a date and a time are all the format needs")
}

/// Whole seconds from `from` to `to` (each to the second, as shown), if
/// they are in order.
pub fn seconds_between(from: OffsetDateTime, to: OffsetDateTime) -> Option<i64> {
    let seconds = to.unix_timestamp() - from.unix_timestamp();
    (seconds >= 0).then_some(seconds)
}

/// Whole seconds since `at`; zero for a time to come (another host's clock).
pub fn seconds_since(at: OffsetDateTime) -> i64 {
    seconds_between(at, OffsetDateTime::now_utc()).unwrap_or(0)
}

/// `45 s`, `3 min 05 s`, `2 h 07 min`.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_show_in_utc_to_the_second() {
        let shown = "2026-11-28 06:33:24 UTC";
        assert_eq!(display(datetime!(2026-11-28 06:33:24.9 UTC)), shown);
        assert_eq!(display(datetime!(2026-11-28 07:33:24 +01:00)), shown);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(185), "3 min 05 s");
        assert_eq!(duration(7620), "2 h 07 min");
        let (from, to) = (
            datetime!(2026-11-28 06:33:24.9 UTC),
            datetime!(2026-11-28 06:35:00.1 UTC),
        );
        // Between the seconds shown, not the exact instants.
        assert_eq!(seconds_between(from, to), Some(96));
        assert_eq!(seconds_between(to, from), None);
        assert_eq!(
            seconds_since(OffsetDateTime::now_utc() + time::Duration::hours(1)),
            0
        );
        assert!((3599..=3601).contains(&seconds_since(
            OffsetDateTime::now_utc() - time::Duration::hours(1)
        )));
    }
}
