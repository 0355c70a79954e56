//! An output directory slipway cannot write to. Its own test binary: as root it
//! becomes `nobody` (root writes anywhere), for the whole process.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use slipway_dump::{write_dump, DumpError, DumpFormat, DumpSource};

#[tokio::test]
async fn an_unwritable_output_directory_is_a_clear_error_before_any_work() {
    if unsafe { libc::geteuid() } == 0 {
        unsafe {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setresgid(65534, 65534, 65534), 0);
            assert_eq!(libc::setresuid(65534, 65534, 65534), 0);
        }
    }
    let temp = tempfile::Builder::new()
        .prefix("slipway-dump-test")
        .tempdir_in("/tmp")
        .unwrap();
    let locked = temp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Nothing listens there: the directory must be refused before connecting.
    let source = DumpSource {
        pg_dump: Path::new("/nonexistent/pg_dump"),
        connection: vec![
            ("PGHOST".to_string(), "/nonexistent".to_string()),
            ("PGUSER".to_string(), "slipway".to_string()),
        ],
        database: "build_1",
        filestore: None,
    };
    for format in [DumpFormat::Zip, DumpFormat::PgCustom] {
        let error = write_dump(&source, format, &locked.join("build_1.zip"))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, DumpError::OutputNotWritable { path, .. } if path == &locked),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains(&locked.display().to_string())
                && text.contains("build_1")
                && text.contains("Permission denied")
                && text.contains("writable"),
            "{text}"
        );
        assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 0);
    }
    // A destination directory that does not exist.
    let error = write_dump(
        &source,
        DumpFormat::Zip,
        &temp.path().join("missing/build_1.zip"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, DumpError::OutputNotWritable { .. }),
        "{error:?}"
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}
