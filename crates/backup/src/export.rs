//! A backup as Odoo's database manager takes it back (`/web/database/restore`,
//! or `slipway import`): a zip of `dump.sql` (pg_restore's plain SQL),
//! `manifest.json` in Odoo's format and `filestore/`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::store::Backup;
use crate::{tools, BackupError};

/// Writes `backup` to `out` as an Odoo zip (replaced if it exists, mode
/// 0600). Written aside and renamed: a failure leaves nothing at `out`.
/// Returns its size.
pub async fn export_zip(
    backup: &Backup,
    pg_restore: &Path,
    out: &Path,
) -> Result<u64, BackupError> {
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let sql = tempfile::Builder::new()
        .prefix(".export-")
        .suffix(".sql")
        .tempfile_in(&dir)
        .map_err(|e| BackupError::io("creating a file in", &dir, e))?;
    let mut file_arg = std::ffi::OsString::from("--file=");
    file_arg.push(sql.path());
    tools::run(
        pg_restore,
        "pg_restore",
        &backup.manifest.source_database,
        &tools::Connection::Offline,
        &[
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            file_arg.as_os_str(),
            backup.database_file().as_os_str(),
        ],
        &dir,
    )
    .await?;
    let backup = backup.clone();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || write_zip(&backup, sql.path(), &out, &dir))
        .await
        .map_err(|error| BackupError::io("writing the zip", "", io::Error::other(error)))?
}

fn write_zip(backup: &Backup, sql: &Path, out: &Path, dir: &Path) -> Result<u64, BackupError> {
    let manifest = &backup.manifest;
    let modules: BTreeMap<String, Option<String>> = manifest
        .modules
        .iter()
        .map(|(name, state)| (name.clone(), state.version.clone()))
        .collect();
    let base = modules
        .get("base")
        .cloned()
        .flatten()
        .unwrap_or_else(|| manifest.series.clone());
    let (major, minor) = manifest.pg_version.split_once('.').unwrap_or(("0", "0"));
    let server_version_num =
        major.parse::<u32>().unwrap_or(0) * 10000 + minor.parse::<u32>().unwrap_or(0) * 100;
    let odoo_manifest = slipway_dump::Manifest::new(
        &manifest.source_database,
        &base,
        server_version_num,
        modules,
    );

    let zipped = tempfile::Builder::new()
        .prefix(".export-")
        .suffix(".zip")
        .tempfile_in(dir)
        .map_err(|e| BackupError::io("creating a file in", dir, e))?;
    let written = |e: zip::result::ZipError| match e {
        zip::result::ZipError::Io(source) => BackupError::io("writing", zipped.path(), source),
        other => BackupError::io("writing", zipped.path(), io::Error::other(other)),
    };
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true)
        .unix_permissions(0o600);
    let mut zip = ZipWriter::new(zipped.as_file());
    zip.start_file("dump.sql", options).map_err(written)?;
    let mut sql_file = File::open(sql).map_err(|e| BackupError::io("reading", sql, e))?;
    io::copy(&mut sql_file, &mut zip).map_err(|e| BackupError::io("writing", zipped.path(), e))?;
    zip.start_file("manifest.json", options).map_err(written)?;
    zip.write_all(&odoo_manifest.to_json())
        .map_err(|e| BackupError::io("writing", zipped.path(), e))?;
    let filestore = backup.filestore();
    for relative in manifest.filestore.checksums.keys() {
        let path = filestore.join(relative);
        let mut file = File::open(&path).map_err(|e| BackupError::io("reading", &path, e))?;
        zip.start_file(format!("filestore/{relative}"), options)
            .map_err(written)?;
        io::copy(&mut file, &mut zip).map_err(|e| BackupError::io("writing", zipped.path(), e))?;
    }
    zip.finish().map_err(written)?;
    let file = zipped.as_file();
    file.sync_all()
        .map_err(|e| BackupError::io("writing", zipped.path(), e))?;
    let bytes = file
        .metadata()
        .map_err(|e| BackupError::io("reading", zipped.path(), e))?
        .len();
    zipped
        .persist(out)
        .map_err(|error| BackupError::io("renaming the zip to", out, error.error))?;
    Ok(bytes)
}
