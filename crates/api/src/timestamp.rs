//! Times on the wire: RFC 3339 in UTC, to the second (`2024-05-01T12:00:00Z`),
//! as the API has always written them. `#[serde(with = "timestamp")]` on an
//! [`OffsetDateTime`], `#[serde(with = "timestamp::option")]` on an
//! `Option<OffsetDateTime>` (null when absent).

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Whole seconds: a fraction is dropped, never rounded up.
const WIRE: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// `at` as the API writes it.
pub fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(WIRE)
        .expect("a date and a time are all the wire format needs")
}

/// A time as the API writes it.
pub fn parse(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    PrimitiveDateTime::parse(text, WIRE).map(PrimitiveDateTime::assume_utc)
}

pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*at))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The same for an optional time.
pub mod option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        at.map(super::format).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_are_written_in_utc_to_the_second_as_postgres_to_char_wrote_them() {
        // What `to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')` gave.
        for (at, written) in [
            (
                datetime!(2026-11-28 06:33:24.999999 UTC),
                "2026-11-28T06:33:24Z",
            ),
            (
                datetime!(2026-11-28 08:33:24 +02:00),
                "2026-11-28T06:33:24Z",
            ),
            (datetime!(0987-01-02 03:04:05 UTC), "0987-01-02T03:04:05Z"),
        ] {
            assert_eq!(format(at), written);
        }
    }

    #[test]
    fn written_times_read_back() {
        let at = datetime!(2024-05-01 12:00:00 UTC);
        assert_eq!(parse("2024-05-01T12:00:00Z").unwrap(), at);
        assert_eq!(parse(&format(at)).unwrap(), at);
        assert!(parse("2024-05-01 12:00:00").is_err());
        assert!(parse("2024-13-01T12:00:00Z").is_err());
    }
}
