//! Backups of a real PostgreSQL database shaped like Odoo's (the tables a
//! backup reads), with a real filestore.

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};
use slipway_backup::{
    check_files, create, restore, verify, BackupError, BackupKind, BackupOrigin, BackupSource,
    BackupStore, RestoreTarget,
};
use slipway_postgres::test_support::{shared, TestCluster};

/// A database with Odoo's module, parameter, attachment and partner tables,
/// and a filestore holding `files` (content → its `ab/abcdef…` name).
struct OdooLike {
    database: String,
    data_dir: tempfile::TempDir,
}

impl OdooLike {
    async fn new(pg: &TestCluster, database: &str, series: &str, files: &[&[u8]]) -> OdooLike {
        pg.cluster.drop_database(database).await.unwrap();
        pg.cluster
            .connect("postgres")
            .await
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .unwrap();
        let client = pg.cluster.connect(database).await.unwrap();
        client
            .batch_execute(&format!(
                "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar, state varchar, latest_version varchar);
                 INSERT INTO ir_module_module (name, state, latest_version) VALUES
                   ('base', 'installed', '{series}.1.3'), ('mail', 'installed', '{series}.1.2'), ('sale', 'uninstalled', NULL);
                 CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar, value text);
                 INSERT INTO ir_config_parameter (key, value) VALUES
                   ('module_auto_update.installed_checksums', '{{\"base\": \"c0ffee\"}}');
                 CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar);
                 INSERT INTO res_partner (name) VALUES ('Azure Interior'), ('Deco Addict');
                 CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, store_fname varchar);"
            ))
            .await
            .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let odoo = OdooLike {
            database: database.to_string(),
            data_dir,
        };
        for content in files {
            odoo.attach(pg, content).await;
        }
        odoo
    }

    fn filestore(&self) -> PathBuf {
        self.data_dir.path().join("filestore").join(&self.database)
    }

    fn relative(&self) -> PathBuf {
        Path::new("filestore").join(&self.database)
    }

    /// Writes an attachment as Odoo does: named by its SHA-1.
    async fn attach(&self, pg: &TestCluster, content: &[u8]) -> String {
        let sha = hex::encode(Sha1::digest(content));
        let name = format!("{}/{}", &sha[..2], sha);
        let path = self.filestore().join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        pg.cluster
            .connect(&self.database)
            .await
            .unwrap()
            .execute(
                "INSERT INTO ir_attachment (name, store_fname) VALUES ('file', $1)",
                &[&name],
            )
            .await
            .unwrap();
        name
    }

    fn source<'a>(&'a self, pg: &'a TestCluster, pg_dump: &'a Path) -> BackupSource<'a> {
        BackupSource {
            cluster: &pg.cluster,
            pg_dump,
            database: &self.database,
            data_dir: self.data_dir.path(),
            filestore: Box::leak(self.relative().into_boxed_path()),
            origin: BackupOrigin {
                build: Some(7),
                commit: Some("abc123".into()),
                ..BackupOrigin::default()
            },
        }
    }
}

async fn partners(pg: &TestCluster, database: &str) -> Vec<String> {
    pg.cluster
        .connect(database)
        .await
        .unwrap()
        .query("SELECT name FROM res_partner ORDER BY id", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.get(0))
        .collect()
}

async fn new_role(pg: &TestCluster, role: &str) {
    let _ = pg.cluster.drop_role(role).await;
    pg.cluster.create_role(role, "secret-pw").await.unwrap();
}

#[tokio::test]
async fn a_restore_brings_back_the_records_and_files_of_the_backup_and_nothing_newer() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let pg_restore = pg.binaries.program("pg_restore");
    let odoo = OdooLike::new(pg, "restore_src", "14.0", &[b"invoice pdf bytes"]).await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");

    let backup = create(
        &backups,
        "1",
        BackupKind::Manual,
        &odoo.source(pg, &pg_dump),
    )
    .await
    .unwrap();
    assert_eq!(backup.manifest.series, "14.0");
    assert_eq!(backup.manifest.rows["res_partner"], 2);
    assert_eq!(backup.manifest.modules.len(), 2, "installed modules only");
    assert_eq!(
        backup.manifest.modules["base"].checksum.as_deref(),
        Some("c0ffee")
    );
    assert_eq!(backup.manifest.filestore.files, 1);
    assert_eq!(backup.manifest.origin.build, Some(7));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(backups.dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "backups hold password hashes: slipway's eyes only"
    );

    // After the backup: a partner deleted, another created.
    let client = pg.cluster.connect("restore_src").await.unwrap();
    client
        .batch_execute(
            "DELETE FROM res_partner WHERE name = 'Deco Addict';
             INSERT INTO res_partner (name) VALUES ('Created After');",
        )
        .await
        .unwrap();

    new_role(pg, "restore_dst").await;
    pg.cluster.drop_database("restore_dst").await.unwrap();
    let restored_data = tempfile::tempdir().unwrap();
    let target = RestoreTarget {
        cluster: &pg.cluster,
        pg_restore: &pg_restore,
        database: "restore_dst",
        role: "restore_dst",
        password: "secret-pw",
        filestore: restored_data.path().join("filestore/restore_dst"),
        series: "14.0",
    };
    restore(&backup, &target).await.unwrap();
    assert_eq!(
        partners(pg, "restore_dst").await,
        ["Azure Interior", "Deco Addict"]
    );
    let owner: String = pg
        .cluster
        .connect("restore_dst")
        .await
        .unwrap()
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'res_partner'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        owner, "restore_dst",
        "the build's role owns what was restored"
    );
    let name = backup.manifest.filestore.checksums.keys().next().unwrap();
    assert_eq!(
        std::fs::read(target.filestore.join(name)).unwrap(),
        b"invoice pdf bytes"
    );

    let verified = verify(&backup, &pg.cluster, &pg_restore, "restore_verify")
        .await
        .unwrap();
    assert!(verified.ok(), "{:?}", verified.problems);
    assert!(!pg.cluster.database_exists("restore_verify").await.unwrap());
    pg.cluster.drop_database("restore_dst").await.unwrap();
    pg.cluster.drop_database("restore_src").await.unwrap();
}

#[tokio::test]
async fn a_damaged_backup_fails_verification_and_is_never_restored() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let pg_restore = pg.binaries.program("pg_restore");
    let odoo = OdooLike::new(pg, "damaged_src", "14.0", &[b"a file"]).await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let backup = create(&backups, "1", BackupKind::Daily, &odoo.source(pg, &pg_dump))
        .await
        .unwrap();

    // One byte of the dump changed, as a failing disk does.
    let dump = backup.database_file();
    let mut bytes = std::fs::read(&dump).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&dump, &bytes).unwrap();

    let verified = verify(&backup, &pg.cluster, &pg_restore, "damaged_verify")
        .await
        .unwrap();
    assert!(!verified.ok());
    assert!(
        verified.problems[0].contains("database.dump does not match its checksum"),
        "{:?}",
        verified.problems
    );
    new_role(pg, "damaged_dst").await;
    let target = RestoreTarget {
        cluster: &pg.cluster,
        pg_restore: &pg_restore,
        database: "damaged_dst",
        role: "damaged_dst",
        password: "secret-pw",
        filestore: store_dir.path().join("restored"),
        series: "14.0",
    };
    let refused = restore(&backup, &target).await.unwrap_err();
    assert!(
        matches!(refused, BackupError::Damaged { .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("cannot be restored"),
        "{refused}"
    );
    assert!(
        !pg.cluster.database_exists("damaged_dst").await.unwrap(),
        "nothing is created for a damaged backup"
    );
    pg.cluster.drop_database("damaged_src").await.unwrap();
}

#[tokio::test]
async fn a_backup_of_another_series_is_refused_before_anything_is_made() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let pg_restore = pg.binaries.program("pg_restore");
    let odoo = OdooLike::new(pg, "series_src", "19.0", &[]).await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let backup = create(
        &backups,
        "1",
        BackupKind::Manual,
        &odoo.source(pg, &pg_dump),
    )
    .await
    .unwrap();
    new_role(pg, "series_dst").await;
    let target = RestoreTarget {
        cluster: &pg.cluster,
        pg_restore: &pg_restore,
        database: "series_dst",
        role: "series_dst",
        password: "secret-pw",
        filestore: store_dir.path().join("restored"),
        series: "14.0",
    };
    let refused = restore(&backup, &target).await.unwrap_err().to_string();
    assert!(
        refused.contains("Odoo 19.0") && refused.contains("runs Odoo 14.0"),
        "{refused}"
    );
    assert!(!pg.cluster.database_exists("series_dst").await.unwrap());
    pg.cluster.drop_database("series_src").await.unwrap();
}

#[tokio::test]
async fn identical_filestore_files_are_stored_once_across_backups() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let big = vec![7u8; 300_000];
    let odoo = OdooLike::new(pg, "dedup_src", "14.0", &[&big, b"small"]).await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let first = create(&backups, "1", BackupKind::Daily, &odoo.source(pg, &pg_dump))
        .await
        .unwrap();
    assert_eq!(first.manifest.filestore.new_bytes, 300_005);
    odoo.attach(pg, b"new today").await;
    let second = create(&backups, "2", BackupKind::Daily, &odoo.source(pg, &pg_dump))
        .await
        .unwrap();
    assert_eq!(second.manifest.filestore.files, 3);
    assert_eq!(
        second.manifest.filestore.new_bytes, 9,
        "only the new file is stored again"
    );
    let on_disk = backups.disk_bytes().unwrap();
    assert!(
        on_disk < 2 * 300_000,
        "the big file is stored once: {on_disk} bytes"
    );

    // The first backup removed: its files stay while the second links them.
    backups.remove("1").unwrap();
    assert_eq!(backups.collect_pool().unwrap(), (0, 0));
    assert!(check_files(&second).await.unwrap().is_empty());
    backups.remove("2").unwrap();
    let (files, bytes) = backups.collect_pool().unwrap();
    assert_eq!((files, bytes), (3, 300_014));
    pg.cluster.drop_database("dedup_src").await.unwrap();
}

#[tokio::test]
async fn a_link_planted_in_the_filestore_is_not_followed() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let odoo = OdooLike::new(pg, "link_src", "14.0", &[]).await;
    let secret = odoo.data_dir.path().join("host-secret");
    std::fs::write(&secret, b"not for the backup").unwrap();
    let name = "ab/abababababababababababababababababababab";
    std::fs::create_dir_all(odoo.filestore().join("ab")).unwrap();
    std::os::unix::fs::symlink(&secret, odoo.filestore().join(name)).unwrap();
    pg.cluster
        .connect("link_src")
        .await
        .unwrap()
        .execute(
            "INSERT INTO ir_attachment (name, store_fname) VALUES ('x', $1)",
            &[&name],
        )
        .await
        .unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let backup = create(
        &backups,
        "1",
        BackupKind::Manual,
        &odoo.source(pg, &pg_dump),
    )
    .await
    .unwrap();
    assert_eq!(backup.manifest.filestore.missing, [name]);
    assert_eq!(backup.manifest.filestore.files, 0);
    pg.cluster.drop_database("link_src").await.unwrap();
}

#[tokio::test]
async fn a_database_dropped_behind_slipway_s_back_is_said_to_be_gone() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let odoo = OdooLike::new(pg, "gone_src", "14.0", &[]).await;
    pg.cluster.drop_database("gone_src").await.unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let error = create(
        &backups,
        "1",
        BackupKind::PreUpdate,
        &odoo.source(pg, &pg_dump),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, BackupError::DatabaseGone { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("database 'gone_src' does not exist"),
        "{error}"
    );
    assert!(backups.open("1").is_err());
}

/// A small tmpfs as the backup directory: the disk fills while pg_dump
/// writes. Needs root (mount), as the test suite runs in CI.
#[tokio::test]
async fn disk_full_while_backing_up_leaves_no_backup_and_the_database_untouched() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test mounts a small tmpfs: run the test suite as root"
    );
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let odoo = OdooLike::new(pg, "full_src", "14.0", &[]).await;
    // Rows that do not compress away: 2 MB of random text.
    pg.cluster
        .connect("full_src")
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO res_partner (name) SELECT md5(random()::text) || md5(random()::text) FROM generate_series(1, 40000)",
        )
        .await
        .unwrap();
    let mount = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(mount.path())
        .status()
        .unwrap();
    assert!(status.success(), "mounting a tmpfs failed");
    let backups = BackupStore::new(mount.path()).project("acme");
    let result = create(&backups, "1", BackupKind::Daily, &odoo.source(pg, &pg_dump)).await;
    let leftovers: Vec<String> = std::fs::read_dir(backups.dir())
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let _ = std::process::Command::new("umount")
        .arg(mount.path())
        .status();
    let error = result.unwrap_err();
    assert!(error.is_disk_full(), "{error:?}");
    assert!(error.to_string().contains("free some space"), "{error}");
    assert!(
        leftovers.iter().all(|name| name == "pool"),
        "nothing of the backup is left: {leftovers:?}"
    );
    assert_eq!(partners(pg, "full_src").await.len(), 40_002);
    pg.cluster.drop_database("full_src").await.unwrap();
}

#[tokio::test]
async fn a_downloaded_backup_is_an_odoo_zip_that_imports_again() {
    let pg = shared().await;
    let pg_dump = pg.binaries.program("pg_dump");
    let pg_restore = pg.binaries.program("pg_restore");
    let odoo = OdooLike::new(pg, "export_src", "14.0", &[b"attachment of the export"]).await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let backup = create(
        &backups,
        "1",
        BackupKind::Manual,
        &odoo.source(pg, &pg_dump),
    )
    .await
    .unwrap();
    let zip = store_dir.path().join("acme.zip");
    slipway_backup::export_zip(&backup, &pg_restore, &zip)
        .await
        .unwrap();

    let imported = slipway_backup::import(
        &backups,
        "2",
        &slipway_backup::ImportSource {
            cluster: &pg.cluster,
            psql: &pg.binaries.program("psql"),
            pg_dump: &pg_dump,
            zip: &zip,
            file_name: "acme.zip",
            series: "14.0",
            scratch: "export_import_scratch",
            limits: Default::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(imported.manifest.kind, BackupKind::Import);
    assert_eq!(imported.manifest.rows, backup.manifest.rows);
    assert_eq!(
        imported.manifest.filestore.checksums,
        backup.manifest.filestore.checksums
    );
    assert_eq!(
        imported.manifest.filestore.new_bytes, 0,
        "the same files, stored once"
    );
    assert_eq!(
        imported.manifest.origin.imported_from.as_deref(),
        Some("acme.zip")
    );
    assert!(!pg
        .cluster
        .database_exists("export_import_scratch")
        .await
        .unwrap());

    // The same zip, for a project of another series: refused before anything.
    let refused = slipway_backup::import(
        &backups,
        "3",
        &slipway_backup::ImportSource {
            cluster: &pg.cluster,
            psql: &pg.binaries.program("psql"),
            pg_dump: &pg_dump,
            zip: &zip,
            file_name: "acme.zip",
            series: "19.0",
            scratch: "export_import_scratch",
            limits: Default::default(),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("this project runs 19.0"), "{refused}");
    assert!(backups.open("3").is_err());
    pg.cluster.drop_database("export_src").await.unwrap();
}

#[tokio::test]
async fn a_zip_that_is_not_an_odoo_dump_is_refused_with_what_to_do() {
    let pg = shared().await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let zip = store_dir.path().join("photos.zip");
    {
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        writer
            .start_file("holiday.jpg", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut writer, b"jpeg").unwrap();
        writer.finish().unwrap();
    }
    let refused = slipway_backup::import(
        &backups,
        "1",
        &slipway_backup::ImportSource {
            cluster: &pg.cluster,
            psql: &pg.binaries.program("psql"),
            pg_dump: &pg.binaries.program("pg_dump"),
            zip: &zip,
            file_name: "photos.zip",
            series: "14.0",
            scratch: "not_odoo_scratch",
            limits: Default::default(),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("photos.zip has no dump.sql"), "{refused}");
    assert!(!pg
        .cluster
        .database_exists("not_odoo_scratch")
        .await
        .unwrap());
}

/// An uploaded dump is anybody's SQL: it is loaded as an unprivileged login,
/// so what only a superuser may do fails and the import with it.
#[tokio::test]
async fn an_uploaded_dump_cannot_act_as_the_administrator() {
    let pg = shared().await;
    let store_dir = tempfile::tempdir().unwrap();
    let backups = BackupStore::new(store_dir.path()).project("acme");
    let marker = store_dir.path().join("pwned");
    let sql = format!(
        "CREATE TABLE ir_module_module (id serial, name varchar, state varchar, latest_version varchar);
         INSERT INTO ir_module_module (name, state, latest_version) VALUES ('base', 'installed', '14.0.1.3');
         RESET ROLE;
         COPY (SELECT 1) TO PROGRAM 'touch {}';
         CREATE ROLE intruder SUPERUSER LOGIN;",
        marker.display()
    );
    let zip = store_dir.path().join("evil.zip");
    {
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("dump.sql", options).unwrap();
        std::io::Write::write_all(&mut writer, sql.as_bytes()).unwrap();
        writer.start_file("manifest.json", options).unwrap();
        std::io::Write::write_all(&mut writer, br#"{"major_version": "14.0"}"#).unwrap();
        writer.finish().unwrap();
    }
    let refused = slipway_backup::import(
        &backups,
        "1",
        &slipway_backup::ImportSource {
            cluster: &pg.cluster,
            psql: &pg.binaries.program("psql"),
            pg_dump: &pg.binaries.program("pg_dump"),
            zip: &zip,
            file_name: "evil.zip",
            series: "14.0",
            scratch: "evil_scratch",
            limits: Default::default(),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("does not load"), "{refused}");
    assert!(!marker.exists(), "the dump ran a program on the host");
    let intruder = pg
        .cluster
        .connect("postgres")
        .await
        .unwrap()
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = 'intruder'", &[])
        .await
        .unwrap();
    assert!(intruder.is_none(), "the dump created a superuser");
    assert!(!pg.cluster.database_exists("evil_scratch").await.unwrap());
}
