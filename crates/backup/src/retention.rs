//! Which backups retention deletes.
//!
//! Everything here is a pure function of the list of backups and "now": the
//! clock is passed in so the scheduler and the tests (which drive a simulated
//! calendar) apply exactly the same rules, and nothing here touches storage.

use std::collections::HashSet;

use time::{Duration, OffsetDateTime, UtcOffset};

/// The words of the API: one list, stored and shown the same everywhere.
pub use slipway_api::{BackupKind, Verification};

/// How many scheduled backups to keep, and for how many days the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetentionPolicy {
    /// Newest non-failed daily backups kept.
    pub daily: u32,
    /// Newest non-failed weekly backups kept.
    pub weekly: u32,
    /// Newest non-failed monthly backups kept.
    pub monthly: u32,
    /// Days a manual backup is kept.
    pub manual_days: u32,
    /// Days a pre-update backup is kept (only useful until the update is trusted).
    pub pre_update_days: u32,
    /// Days an imported backup is kept.
    pub import_days: u32,
    /// Days a failed backup of any kind is kept, so people can look at it.
    pub failed_days: u32,
}

impl Default for RetentionPolicy {
    /// A week of dailies, a month of weeklies, a quarter of monthlies.
    fn default() -> Self {
        RetentionPolicy {
            daily: 7,
            weekly: 4,
            monthly: 3,
            manual_days: 30,
            pre_update_days: 14,
            import_days: 30,
            failed_days: 7,
        }
    }
}

/// A backup as retention sees it: only what the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackup {
    /// Its id in the database; what [`to_delete`] returns.
    pub id: i64,
    /// What it was taken for.
    pub kind: BackupKind,
    /// When it was taken (any offset; calendars are read in UTC).
    pub created_at: OffsetDateTime,
    /// Whether it restored.
    pub verification: Verification,
}

/// The kind a scheduled backup taken at `at` gets, given the scheduled backups
/// already there: Monthly if no monthly backup exists in the same calendar
/// month (UTC), else Weekly if no weekly or monthly one exists in the same ISO
/// week, else Daily.
///
/// Failed backups are not "there": a month whose monthly failed to restore
/// would otherwise have no usable monthly, so the next run takes the role.
/// Pending ones count, they are presumed good until checked.
pub fn scheduled_kind(existing: &[StoredBackup], at: OffsetDateTime) -> BackupKind {
    let at = at.to_offset(UtcOffset::UTC);
    let month = (at.year(), at.month());
    // The ISO year, not the calendar one: 2027-01-01 is in 2026-W53.
    let (week_year, week, _) = at.to_iso_week_date();
    let usable = || {
        existing
            .iter()
            .filter(|b| b.verification != Verification::Failed)
            .map(|b| (b.kind, b.created_at.to_offset(UtcOffset::UTC)))
    };
    let monthly_this_month =
        usable().any(|(kind, t)| kind == BackupKind::Monthly && (t.year(), t.month()) == month);
    if !monthly_this_month {
        return BackupKind::Monthly;
    }
    let weekly_this_week = usable().any(|(kind, t)| {
        let (y, w, _) = t.to_iso_week_date();
        matches!(kind, BackupKind::Weekly | BackupKind::Monthly) && (y, w) == (week_year, week)
    });
    if weekly_this_week {
        BackupKind::Daily
    } else {
        BackupKind::Weekly
    }
}

/// The ids retention deletes at `now`, oldest first (by `created_at`, then id),
/// without duplicates.
///
/// - Daily, weekly, monthly: the newest `policy.<kind>` non-failed ones are
///   kept, older ones deleted.
/// - Manual, pre-update, import: deleted once `created_at + days <= now`.
/// - Failed (any kind): deleted once `created_at + failed_days <= now`, never
///   counted toward the numbers kept.
/// - Pending: never deleted (still being checked).
/// - The newest `Ok` backup is never deleted, whatever the rules above say, so
///   there is always something known to restore.
pub fn to_delete(
    backups: &[StoredBackup],
    policy: &RetentionPolicy,
    now: OffsetDateTime,
) -> Vec<i64> {
    let newest_ok = backups
        .iter()
        .filter(|b| b.verification == Verification::Ok)
        .max_by_key(|b| (b.created_at, b.id))
        .map(|b| b.id);

    // Indices of the scheduled backups past their kind's count.
    let mut beyond_count = vec![false; backups.len()];
    for (kind, keep) in [
        (BackupKind::Daily, policy.daily),
        (BackupKind::Weekly, policy.weekly),
        (BackupKind::Monthly, policy.monthly),
    ] {
        let mut counted: Vec<usize> = (0..backups.len())
            .filter(|&i| backups[i].kind == kind && backups[i].verification != Verification::Failed)
            .collect();
        counted.sort_by_key(|&i| std::cmp::Reverse((backups[i].created_at, backups[i].id)));
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        for &i in counted.iter().skip(keep) {
            beyond_count[i] = true;
        }
    }

    let mut doomed: Vec<&StoredBackup> = backups
        .iter()
        .zip(beyond_count)
        .filter(|(b, beyond)| match b.verification {
            Verification::Pending => false,
            Verification::Failed => older_than(b, policy.failed_days, now),
            Verification::Ok => match b.kind {
                BackupKind::Daily | BackupKind::Weekly | BackupKind::Monthly => *beyond,
                BackupKind::Manual => older_than(b, policy.manual_days, now),
                BackupKind::PreUpdate => older_than(b, policy.pre_update_days, now),
                BackupKind::Import => older_than(b, policy.import_days, now),
            },
        })
        .map(|(b, _)| b)
        .filter(|b| Some(b.id) != newest_ok)
        .collect();
    doomed.sort_by_key(|b| (b.created_at, b.id));
    let mut seen = HashSet::new();
    doomed
        .into_iter()
        .map(|b| b.id)
        .filter(|&id| seen.insert(id))
        .collect()
}

/// Whether `days` have passed since the backup was taken (`created_at + days <= now`).
/// A limit beyond the calendar's range is never reached.
fn older_than(backup: &StoredBackup, days: u32, now: OffsetDateTime) -> bool {
    backup
        .created_at
        .checked_add(Duration::days(i64::from(days)))
        .is_some_and(|limit| limit <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Weekday;

    const ALL_KINDS: [BackupKind; 6] = [
        BackupKind::Daily,
        BackupKind::Weekly,
        BackupKind::Monthly,
        BackupKind::Manual,
        BackupKind::PreUpdate,
        BackupKind::Import,
    ];

    fn backup(
        id: i64,
        kind: BackupKind,
        created_at: OffsetDateTime,
        verification: Verification,
    ) -> StoredBackup {
        StoredBackup {
            id,
            kind,
            created_at,
            verification,
        }
    }

    fn ok(id: i64, kind: BackupKind, created_at: OffsetDateTime) -> StoredBackup {
        backup(id, kind, created_at, Verification::Ok)
    }

    /// One scheduled backup a day at 03:00 UTC from 2026-01-01 (a Thursday),
    /// its kind from `scheduled_kind`, retention applied right after.
    /// Returns what remains and every backup ever taken, in order.
    fn simulate(days: i64) -> (Vec<StoredBackup>, Vec<StoredBackup>) {
        let policy = RetentionPolicy::default();
        let start = datetime!(2026-01-01 03:00 UTC);
        let mut stored: Vec<StoredBackup> = Vec::new();
        let mut taken = Vec::new();
        for day in 0..days {
            let now = start + Duration::days(day);
            let taken_now = ok(day + 1, scheduled_kind(&stored, now), now);
            stored.push(taken_now.clone());
            taken.push(taken_now);
            let deleted = to_delete(&stored, &policy, now);
            assert!(
                !deleted.contains(&(day + 1)),
                "day {day}: the backup just taken was deleted"
            );
            stored.retain(|b| !deleted.contains(&b.id));
        }
        (stored, taken)
    }

    #[test]
    fn simulated_120_days_keep_exactly_the_newest_7_daily_4_weekly_3_monthly() {
        let (stored, taken) = simulate(120);
        for (kind, keep) in [
            (BackupKind::Daily, 7),
            (BackupKind::Weekly, 4),
            (BackupKind::Monthly, 3),
        ] {
            let remaining: Vec<i64> = stored
                .iter()
                .filter(|b| b.kind == kind)
                .map(|b| b.id)
                .collect();
            let all_of_kind: Vec<i64> = taken
                .iter()
                .filter(|b| b.kind == kind)
                .map(|b| b.id)
                .collect();
            assert!(all_of_kind.len() > keep, "{kind:?}: too few taken to test");
            let newest = all_of_kind[all_of_kind.len() - keep..].to_vec();
            assert_eq!(remaining, newest, "{kind:?}");
        }
        assert_eq!(stored.len(), 7 + 4 + 3);
    }

    #[test]
    fn simulated_calendar_first_of_month_is_monthly_monday_weekly_else_daily() {
        let (_, taken) = simulate(120);
        assert_eq!(taken.len(), 120);
        for b in &taken {
            let expected = if b.created_at.day() == 1 {
                BackupKind::Monthly
            } else if b.created_at.weekday() == Weekday::Monday {
                BackupKind::Weekly
            } else {
                BackupKind::Daily
            };
            assert_eq!(b.kind, expected, "{}", b.created_at);
        }
    }

    #[test]
    fn manual_deleted_once_30_days_old_younger_kept() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let backups = [
            ok(1, BackupKind::Manual, now - Duration::days(31)),
            ok(2, BackupKind::Manual, now - Duration::days(30)),
            ok(
                3,
                BackupKind::Manual,
                now - Duration::days(30) + Duration::SECOND,
            ),
            ok(4, BackupKind::Manual, now - Duration::days(2)),
            ok(5, BackupKind::Daily, now),
        ];
        assert_eq!(
            to_delete(&backups, &RetentionPolicy::default(), now),
            [1, 2]
        );
    }

    #[test]
    fn pre_update_deleted_once_14_days_old_and_import_once_30() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let backups = [
            ok(1, BackupKind::PreUpdate, now - Duration::days(14)),
            ok(2, BackupKind::PreUpdate, now - Duration::days(13)),
            ok(3, BackupKind::Import, now - Duration::days(30)),
            ok(4, BackupKind::Import, now - Duration::days(29)),
            ok(5, BackupKind::Daily, now),
        ];
        assert_eq!(
            to_delete(&backups, &RetentionPolicy::default(), now),
            [3, 1]
        );
    }

    #[test]
    fn failed_not_counted_and_deleted_once_7_days_old() {
        let policy = RetentionPolicy::default();
        let first = datetime!(2026-03-01 03:00 UTC);
        // 8 dailies verified Ok, then a 9th, the newest, failed.
        let mut backups: Vec<StoredBackup> = (0..8)
            .map(|d| ok(d + 1, BackupKind::Daily, first + Duration::days(d)))
            .collect();
        let failed_at = first + Duration::days(8);
        backups.push(backup(
            9,
            BackupKind::Daily,
            failed_at,
            Verification::Failed,
        ));

        // Had the failed one counted, 2 and 1 would go: only the oldest does.
        let day_after = failed_at + Duration::days(1);
        assert_eq!(to_delete(&backups, &policy, day_after), [1]);
        backups.retain(|b| b.id != 1);

        // 7 non-failed left: all kept, the failed one too until 7 days old.
        let almost = failed_at + Duration::days(7) - Duration::SECOND;
        assert_eq!(to_delete(&backups, &policy, almost), Vec::<i64>::new());
        let week_later = failed_at + Duration::days(7);
        assert_eq!(to_delete(&backups, &policy, week_later), [9]);
    }

    #[test]
    fn failed_of_every_kind_deleted_after_failed_days_whatever_the_kind_allows() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let mut backups: Vec<StoredBackup> = ALL_KINDS
            .iter()
            .zip(1..)
            .map(|(&kind, id)| backup(id, kind, now - Duration::days(7), Verification::Failed))
            .collect();
        backups.push(backup(
            100,
            BackupKind::Manual,
            now - Duration::days(6),
            Verification::Failed,
        ));
        backups.push(ok(200, BackupKind::Daily, now));
        assert_eq!(
            to_delete(&backups, &RetentionPolicy::default(), now),
            [1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn newest_verified_never_deleted_even_when_every_newer_one_failed() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let backups = [
            ok(1, BackupKind::Manual, now - Duration::days(500)),
            ok(2, BackupKind::Manual, now - Duration::days(400)),
            backup(
                3,
                BackupKind::Daily,
                now - Duration::days(300),
                Verification::Failed,
            ),
            backup(
                4,
                BackupKind::Manual,
                now - Duration::days(200),
                Verification::Failed,
            ),
            backup(
                5,
                BackupKind::Monthly,
                now - Duration::days(100),
                Verification::Failed,
            ),
        ];
        assert_eq!(
            to_delete(&backups, &RetentionPolicy::default(), now),
            [1, 3, 4, 5]
        );
    }

    #[test]
    fn newest_verified_never_deleted_even_when_its_kind_keeps_none() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let policy = RetentionPolicy {
            daily: 0,
            ..RetentionPolicy::default()
        };
        let backups = [
            ok(1, BackupKind::Daily, now - Duration::days(2)),
            ok(2, BackupKind::Daily, now - Duration::days(1)),
            backup(3, BackupKind::Daily, now, Verification::Pending),
        ];
        assert_eq!(to_delete(&backups, &policy, now), [1]);
    }

    #[test]
    fn pending_never_deleted_but_counted() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let pending =
            |id, kind, days| backup(id, kind, now - Duration::days(days), Verification::Pending);
        let mut backups = vec![
            pending(1, BackupKind::Manual, 400),
            pending(2, BackupKind::PreUpdate, 400),
            pending(3, BackupKind::Import, 400),
            pending(4, BackupKind::Daily, 400),
            ok(5, BackupKind::Daily, now - Duration::days(300)),
        ];
        // Seven newer dailies, the newest still pending: the old pending daily
        // stays, the old Ok daily (8th newest non-failed) goes.
        for d in 0..7 {
            let verification = if d == 0 {
                Verification::Pending
            } else {
                Verification::Ok
            };
            backups.push(backup(
                10 + d,
                BackupKind::Daily,
                now - Duration::days(d),
                verification,
            ));
        }
        assert_eq!(to_delete(&backups, &RetentionPolicy::default(), now), [5]);
    }

    #[test]
    fn result_sorted_oldest_first_then_by_id_without_duplicates() {
        let now = datetime!(2026-06-30 12:00 UTC);
        let old = now - Duration::days(60);
        let backups = [
            ok(7, BackupKind::Manual, old),
            ok(3, BackupKind::Import, old),
            ok(9, BackupKind::PreUpdate, old - Duration::days(1)),
            ok(3, BackupKind::Import, old),
            ok(1, BackupKind::Manual, now),
        ];
        assert_eq!(
            to_delete(&backups, &RetentionPolicy::default(), now),
            [9, 3, 7]
        );
    }

    #[test]
    fn scheduled_kind_at_month_boundary_inside_one_iso_week() {
        // 2026-12-28 is a Monday; 2026-12-31 (Thu) and 2027-01-01 (Fri) are
        // both in ISO week 2026-W53.
        let mut existing = vec![
            ok(1, BackupKind::Monthly, datetime!(2026-12-01 03:00 UTC)),
            ok(2, BackupKind::Weekly, datetime!(2026-12-28 03:00 UTC)),
        ];
        assert_eq!(
            scheduled_kind(&existing, datetime!(2026-12-31 03:00 UTC)),
            BackupKind::Daily
        );
        assert_eq!(
            scheduled_kind(&existing, datetime!(2027-01-01 03:00 UTC)),
            BackupKind::Monthly
        );
        existing.push(ok(3, BackupKind::Monthly, datetime!(2027-01-01 03:00 UTC)));
        assert_eq!(
            scheduled_kind(&existing, datetime!(2027-01-03 03:00 UTC)),
            BackupKind::Daily
        );
        // Monday 2027-01-04 starts 2027-W01.
        assert_eq!(
            scheduled_kind(&existing, datetime!(2027-01-04 03:00 UTC)),
            BackupKind::Weekly
        );
    }

    #[test]
    fn scheduled_kind_monthly_counts_as_the_week_s_weekly() {
        // 2026-07-01 is a Wednesday: its monthly is that week's weekly too.
        let existing = [ok(1, BackupKind::Monthly, datetime!(2026-07-01 03:00 UTC))];
        assert_eq!(
            scheduled_kind(&existing, datetime!(2026-07-05 03:00 UTC)),
            BackupKind::Daily
        );
        assert_eq!(
            scheduled_kind(&existing, datetime!(2026-07-06 03:00 UTC)),
            BackupKind::Weekly
        );
    }

    #[test]
    fn scheduled_kind_compares_iso_week_with_its_year() {
        // Both are in ISO week 2: a year apart, so the old weekly does not count.
        let existing = [
            ok(1, BackupKind::Weekly, datetime!(2025-01-06 03:00 UTC)),
            ok(2, BackupKind::Monthly, datetime!(2026-01-01 03:00 UTC)),
        ];
        assert_eq!(
            scheduled_kind(&existing, datetime!(2026-01-06 03:00 UTC)),
            BackupKind::Weekly
        );
        // Same month number a year earlier is not the same month either.
        let last_year = [ok(1, BackupKind::Monthly, datetime!(2025-01-01 03:00 UTC))];
        assert_eq!(
            scheduled_kind(&last_year, datetime!(2026-01-02 03:00 UTC)),
            BackupKind::Monthly
        );
    }

    #[test]
    fn scheduled_kind_reads_the_calendar_in_utc() {
        // 2026-07-01 01:00 at +02:00 is still June 30 in UTC.
        let existing = [ok(
            1,
            BackupKind::Monthly,
            datetime!(2026-07-01 01:00 +02:00),
        )];
        assert_eq!(
            scheduled_kind(&existing, datetime!(2026-07-01 03:00 UTC)),
            BackupKind::Monthly
        );
        assert_eq!(
            scheduled_kind(&existing, datetime!(2026-06-30 23:30 UTC)),
            BackupKind::Daily
        );
    }

    #[test]
    fn scheduled_kind_ignores_failed_but_counts_pending() {
        let at = datetime!(2026-07-02 03:00 UTC);
        let failed = [backup(
            1,
            BackupKind::Monthly,
            datetime!(2026-07-01 03:00 UTC),
            Verification::Failed,
        )];
        assert_eq!(scheduled_kind(&failed, at), BackupKind::Monthly);
        let pending = [backup(
            1,
            BackupKind::Monthly,
            datetime!(2026-07-01 03:00 UTC),
            Verification::Pending,
        )];
        assert_eq!(scheduled_kind(&pending, at), BackupKind::Daily);
    }

    #[test]
    fn only_daily_weekly_monthly_are_scheduled() {
        let scheduled: Vec<BackupKind> =
            ALL_KINDS.into_iter().filter(|k| k.is_scheduled()).collect();
        assert_eq!(
            scheduled,
            [BackupKind::Daily, BackupKind::Weekly, BackupKind::Monthly]
        );
    }

    #[test]
    fn default_policy_is_the_documented_one() {
        let p = RetentionPolicy::default();
        assert_eq!(
            (
                p.daily,
                p.weekly,
                p.monthly,
                p.manual_days,
                p.pre_update_days,
                p.import_days,
                p.failed_days
            ),
            (7, 4, 3, 30, 14, 30, 7)
        );
    }
}
