//! The zip, as Odoo's `zip_dir(dump_dir, stream, include_dir=False,
//! fnct_sort=lambda file_name: file_name != 'dump.sql')` writes it: deflated,
//! zip64 when a file may not fit in 4 GiB, `dump.sql` first, then
//! `manifest.json`, then the filestore's files under `filestore/`; no directory
//! entries.

use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::SystemTime;

use tempfile::NamedTempFile;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::walk::{self, Entry, Skipped};
use crate::DumpError;

pub(crate) struct Job {
    pub database: String,
    /// The zip is written here.
    pub output: NamedTempFile,
    /// pg_dump's plain SQL.
    pub sql: NamedTempFile,
    pub manifest_json: Vec<u8>,
    pub filestore: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub skipped: Vec<Skipped>,
}

/// Writes the zip into `job.output` (blocking) and hands it back; `job.sql` is
/// removed either way.
pub(crate) fn write(job: Job) -> Result<(NamedTempFile, Stats), DumpError> {
    let Job {
        database,
        output,
        sql,
        manifest_json,
        filestore,
    } = job;
    let db = database.as_str();
    let out_path = output.path().to_path_buf();
    let zip_error = |error: zip::result::ZipError| match error {
        zip::result::ZipError::Io(source) => DumpError::io(db, "writing", &out_path, source),
        other => DumpError::io(db, "writing", &out_path, io::Error::other(other)),
    };
    let write_error = |source: io::Error| DumpError::io(db, "writing", &out_path, source);

    let mut zip = ZipWriter::new(output.as_file());
    let mut stats = Stats::default();

    let mut sql_file = sql
        .reopen()
        .map_err(|e| DumpError::io(db, "reading", sql.path(), e))?;
    let sql_metadata = sql_file
        .metadata()
        .map_err(|e| DumpError::io(db, "reading", sql.path(), e))?;
    zip.start_file("dump.sql", options(&sql_metadata))
        .map_err(zip_error)?;
    copy(&mut sql_file, &mut zip)
        .map_err(|e| copy_error(db, sql.path().to_path_buf(), &out_path, e))?;
    drop(sql_file);
    drop(sql);

    zip.start_file(
        "manifest.json",
        base_options()
            .last_modified_time(zip_time(SystemTime::now()))
            .unix_permissions(0o644),
    )
    .map_err(zip_error)?;
    zip.write_all(&manifest_json).map_err(write_error)?;

    if let Some(root) = &filestore {
        walk::walk(
            root,
            |entry| match entry {
                Entry::File {
                    path,
                    mut file,
                    metadata,
                } => {
                    zip.start_file(format!("filestore/{path}"), options(&metadata))
                        .map_err(zip_error)?;
                    let copied = copy(&mut file, &mut zip)
                        .map_err(|e| copy_error(db, root.join(&path), &out_path, e))?;
                    stats.files += 1;
                    stats.bytes += copied;
                    Ok(())
                }
                Entry::Skipped(skipped) => {
                    tracing::warn!(
                        database = db,
                        path = %root.join(&skipped.path).display(),
                        reason = ?skipped.reason,
                        "filestore entry left out of the dump"
                    );
                    stats.skipped.push(skipped);
                    Ok(())
                }
            },
            |action, path, source| DumpError::io(db, action, path, source),
        )?;
    }
    zip.finish().map_err(zip_error)?;
    Ok((output, stats))
}

fn base_options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

fn options(metadata: &Metadata) -> SimpleFileOptions {
    // Python's zipfile: zip64 = file_size * 1.05 > ZIP64_LIMIT.
    let large = metadata.len() as f64 * 1.05 > u32::MAX as f64;
    base_options()
        .large_file(large)
        .unix_permissions(metadata.permissions().mode() & 0o777)
        .last_modified_time(
            metadata
                .modified()
                .map(zip_time)
                .unwrap_or_else(|_| DateTime::default()),
        )
}

/// Reading and writing errors of a copy, told apart.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy_error(database: &str, from: PathBuf, to: &std::path::Path, error: CopyError) -> DumpError {
    match error {
        CopyError::Read(source) => DumpError::io(database, "reading", from, source),
        CopyError::Write(source) => DumpError::io(database, "writing", to, source),
    }
}

/// Copies in chunks; the number of bytes copied.
fn copy(from: &mut File, to: &mut impl Write) -> Result<u64, CopyError> {
    use std::io::Read;
    let mut buffer = vec![0; 256 * 1024];
    let mut total = 0;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyError::Read(error)),
        };
        to.write_all(&buffer[..read]).map_err(CopyError::Write)?;
        total += read as u64;
    }
}

/// A zip's date and time (UTC; zip has no time zone), 1980-01-01 when out of
/// its range.
fn zip_time(time: SystemTime) -> DateTime {
    let Ok(since_epoch) = time.duration_since(SystemTime::UNIX_EPOCH) else {
        return DateTime::default();
    };
    let seconds = since_epoch.as_secs();
    let (days, seconds_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let Ok(year) = u16::try_from(year) else {
        return DateTime::default();
    };
    DateTime::from_date_and_time(
        year,
        month,
        day,
        (seconds_of_day / 3600) as u8,
        (seconds_of_day % 3600 / 60) as u8,
        (seconds_of_day % 60) as u8,
    )
    .unwrap_or_default()
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn zip_times_are_utc_civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        let zip = zip_time(time);
        assert_eq!(
            (
                zip.year(),
                zip.month(),
                zip.day(),
                zip.hour(),
                zip.minute(),
                zip.second()
            ),
            (2024, 2, 29, 12, 34, 56)
        );
        assert_eq!(zip_time(SystemTime::UNIX_EPOCH), DateTime::default());
    }
}
