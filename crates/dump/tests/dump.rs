//! Real dumps of a real PostgreSQL 15: one embedded cluster for the whole test
//! binary (stopped and removed when the process exits), a database per test.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use slipway_dump::{write_dump, DumpError, DumpFormat, DumpSource, Manifest, SkipReason};
use slipway_postgres::Cluster;

use slipway_postgres::test_support::{shared as server, TestCluster as Server};

/// A database owned by its own role, as a build's, with a minimal Odoo schema
/// and some data.
async fn odoo_database(server: &Server, name: &str) {
    let cluster = &server.cluster;
    cluster.create_role(name, "build-pw").await.unwrap();
    cluster.create_database(name, name).await.unwrap();
    let client = cluster
        .connect_as(name, name, Some("build-pw"))
        .await
        .unwrap();
    client
        .batch_execute(
            "CREATE TABLE ir_module_module (
                 id serial PRIMARY KEY,
                 name varchar NOT NULL,
                 state varchar,
                 latest_version varchar
             );
             INSERT INTO ir_module_module (name, state, latest_version) VALUES
                 ('base', 'installed', '14.0.1.3'),
                 ('web', 'installed', '14.0.1.0'),
                 ('custom', 'installed', NULL),
                 ('mail', 'to upgrade', '14.0.1.2'),
                 ('sale', 'uninstalled', NULL);
             CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, data bytea);
             INSERT INTO res_partner (name, data)
                 SELECT 'partner ' || i || ' é', decode(md5(i::text), 'hex')
                 FROM generate_series(1, 1000) i;
             CREATE TABLE ir_attachment (id serial PRIMARY KEY, store_fname varchar);
             INSERT INTO ir_attachment (store_fname) VALUES ('ab/ab01'), ('cd/cd02');",
        )
        .await
        .unwrap();
}

async fn fingerprint(cluster: &Cluster, database: &str) -> Vec<(String, i64, String)> {
    let client = cluster.connect(database).await.unwrap();
    let mut out = vec![];
    for table in ["ir_module_module", "res_partner", "ir_attachment"] {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t.id)), '') FROM {table} t"
                ),
                &[],
            )
            .await
            .unwrap();
        out.push((table.to_string(), row.get(0), row.get(1)));
    }
    out
}

fn source<'a>(server: &'a Server, pg_dump: &'a Path, database: &'a str) -> DumpSource<'a> {
    DumpSource {
        pg_dump,
        connection: server.cluster.libpq_env(),
        database,
        filestore: None,
    }
}

/// A filestore as Odoo lays it out, plus what must not get into a dump.
fn filestore(base: &Path) -> (PathBuf, BTreeMap<String, Vec<u8>>) {
    let root = base.join("data/filestore/dump_zip");
    let mut files = BTreeMap::new();
    // Larger than any copy buffer, not compressible.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    files.insert("ab/ab01".to_string(), b"first attachment".to_vec());
    files.insert("cd/cd02".to_string(), big);
    files.insert("cd/empty".to_string(), vec![]);
    files.insert("checklist/ef/ef03".to_string(), b"nested".to_vec());
    for (path, content) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    std::fs::create_dir_all(root.join("empty_dir")).unwrap();
    let outside = base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "host secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), root.join("ab/leak")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linked_dir")).unwrap();
    (root, files)
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// In the order of the central directory (the order they were written in).
fn zip_names(zip: &zip::ZipArchive<std::fs::File>) -> Vec<String> {
    zip.file_names()
        .map(|name| name.unwrap().into_owned())
        .collect()
}

fn run(program: &Path, args: &[&str], env: &[(String, String)]) -> String {
    let output = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_zip_dump_holds_sql_manifest_and_filestore_and_restores() {
    let server = server().await;
    odoo_database(server, "dump_zip").await;
    let temp = tempfile::tempdir().unwrap();
    let (root, files) = filestore(temp.path());
    let out_dir = temp.path().join("dumps");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("dump_zip.zip");
    let pg_dump = server.binaries.program("pg_dump");
    let mut source = source(server, &pg_dump, "dump_zip");
    source.filestore = Some(&root);

    let summary = write_dump(&source, DumpFormat::Zip, &out).await.unwrap();

    // Nothing else next to it, and only for its owner (a dump holds secrets).
    assert_eq!(dir_names(&out_dir), ["dump_zip.zip"]);
    let metadata = std::fs::metadata(&out).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    assert_eq!(summary.format, DumpFormat::Zip);
    assert_eq!(summary.path, out);
    assert_eq!(summary.bytes, metadata.len());
    assert_eq!(summary.filestore_files, files.len() as u64);
    assert_eq!(
        summary.filestore_bytes,
        files.values().map(|c| c.len() as u64).sum::<u64>()
    );
    let mut skipped: Vec<(&str, SkipReason)> = summary
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason))
        .collect();
    skipped.sort_by_key(|(path, _)| *path);
    assert_eq!(
        skipped,
        [
            ("ab/leak", SkipReason::SymbolicLink),
            ("linked_dir", SkipReason::SymbolicLink)
        ]
    );

    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let names = zip_names(&zip);
    // As Odoo's zip_dir: dump.sql first, files only, the filestore's files of a
    // directory before its sub-directories.
    let expected_names: Vec<String> = ["dump.sql", "manifest.json"]
        .into_iter()
        .map(String::from)
        .chain(
            ["ab/ab01", "cd/cd02", "cd/empty", "checklist/ef/ef03"]
                .iter()
                .map(|path| format!("filestore/{path}")),
        )
        .collect();
    assert_eq!(names, expected_names);
    for (path, content) in &files {
        let mut entry = zip.by_name(&format!("filestore/{path}")).unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
        let mut read = vec![];
        entry.read_to_end(&mut read).unwrap();
        assert!(read == *content, "{path} differs");
    }

    let mut manifest_json = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest_json)
        .unwrap();
    let manifest: Manifest = serde_json::from_str(&manifest_json).unwrap();
    assert_eq!(summary.manifest.as_ref(), Some(&manifest));
    let raw: serde_json::Value = serde_json::from_str(&manifest_json).unwrap();
    assert_eq!(
        raw,
        serde_json::json!({
            "odoo_dump": "1",
            "db_name": "dump_zip",
            "version": "14.0",
            "version_info": [14, 0, 0, "final", 0, ""],
            "major_version": "14.0",
            "pg_version": format!("{}.0", server.binaries.major),
            "modules": {"base": "14.0.1.3", "web": "14.0.1.0", "custom": null},
        })
    );

    let sql_path = temp.path().join("dump.sql");
    let mut sql = vec![];
    zip.by_name("dump.sql")
        .unwrap()
        .read_to_end(&mut sql)
        .unwrap();
    std::fs::write(&sql_path, &sql).unwrap();
    let sql = String::from_utf8(sql).unwrap();
    assert!(sql.contains("PostgreSQL database dump"), "{sql:.300}");
    assert!(sql.contains("CREATE TABLE public.res_partner"));
    // --no-owner, as Odoo: the restoring role owns what it restores.
    assert!(!sql.contains("OWNER TO"), "dump.sql sets owners");

    // Restored as Odoo does: `psql --dbname=<new> -q -f dump.sql`.
    let cluster = &server.cluster;
    cluster
        .create_database("dump_zip_restored", &cluster.superuser)
        .await
        .unwrap();
    run(
        &server.binaries.program("psql"),
        &[
            "--dbname=dump_zip_restored",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            sql_path.to_str().unwrap(),
        ],
        &cluster.libpq_env(),
    );
    let original = fingerprint(cluster, "dump_zip").await;
    assert_eq!(original[1].1, 1000);
    assert_eq!(fingerprint(cluster, "dump_zip_restored").await, original);

    // Odoo's restore reads the zip with Python's zipfile and extracts
    // `dump.sql` and `filestore/...` only: do the same.
    let extracted = temp.path().join("extracted");
    match Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             assert zipfile.is_zipfile(sys.argv[1])\n\
             with zipfile.ZipFile(sys.argv[1], 'r') as z:\n\
             \x20   assert z.testzip() is None\n\
             \x20   filestore = [m for m in z.namelist() if m.startswith('filestore/')]\n\
             \x20   z.extractall(sys.argv[2], ['dump.sql'] + filestore)\n\
             \x20   print('\\n'.join(z.namelist()))",
        )
        .arg(&out)
        .arg(&extracted)
        .output()
    {
        Ok(output) if output.status.success() => {
            let listed: Vec<String> = String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            assert_eq!(listed, expected_names);
            assert!(std::fs::read(extracted.join("dump.sql")).unwrap() == sql.as_bytes());
            for (path, content) in &files {
                let read = std::fs::read(extracted.join("filestore").join(path)).unwrap();
                assert!(read == *content, "{path} differs once extracted by Python");
            }
        }
        Ok(output) => panic!(
            "Python's zipfile refuses the dump: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => eprintln!("python3 not available ({error}); zipfile check skipped"),
    }

    // A second dump replaces the first.
    let again = write_dump(&source, DumpFormat::Zip, &out).await.unwrap();
    assert_eq!(again.filestore_files, files.len() as u64);
    assert_eq!(dir_names(&out_dir), ["dump_zip.zip"]);
}

#[tokio::test]
async fn a_pg_custom_dump_is_what_pg_restore_reads() {
    let server = server().await;
    odoo_database(server, "dump_custom").await;
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("dump_custom.dump");
    let pg_dump = server.binaries.program("pg_dump");
    let summary = write_dump(
        &source(server, &pg_dump, "dump_custom"),
        DumpFormat::PgCustom,
        &out,
    )
    .await
    .unwrap();
    assert_eq!(summary.manifest, None);
    assert_eq!(summary.filestore_files, 0);
    assert_eq!(summary.bytes, std::fs::metadata(&out).unwrap().len());
    assert_eq!(dir_names(temp.path()), ["dump_custom.dump"]);
    let mut magic = [0; 5];
    std::fs::File::open(&out)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(&magic, b"PGDMP");

    let cluster = &server.cluster;
    let env = cluster.libpq_env();
    let pg_restore = server.binaries.program("pg_restore");
    let list = run(&pg_restore, &["--list", out.to_str().unwrap()], &env);
    assert!(
        list.contains("TABLE public res_partner") && list.contains("TABLE DATA public res_partner"),
        "{list}"
    );
    // Restored as Odoo does: `pg_restore --no-owner --dbname=<new> <file>`.
    cluster
        .create_database("dump_custom_restored", &cluster.superuser)
        .await
        .unwrap();
    run(
        &pg_restore,
        &[
            "--no-owner",
            "--exit-on-error",
            "--dbname=dump_custom_restored",
            out.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(
        fingerprint(cluster, "dump_custom_restored").await,
        fingerprint(cluster, "dump_custom").await
    );
}

#[tokio::test]
async fn a_collected_database_is_its_own_error_and_leaves_nothing() {
    let server = server().await;
    let temp = tempfile::tempdir().unwrap();
    let pg_dump = server.binaries.program("pg_dump");
    for (format, name) in [(DumpFormat::Zip, "x.zip"), (DumpFormat::PgCustom, "x.dump")] {
        let out = temp.path().join(name);
        let error = write_dump(&source(server, &pg_dump, "collected_build"), format, &out)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, DumpError::DatabaseGone { database } if database == "collected_build"),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("'collected_build'") && text.contains("rebuild"),
            "{text}"
        );
        assert!(dir_names(temp.path()).is_empty());
    }
}

#[tokio::test]
async fn a_database_dropped_during_the_dump_is_gone_too() {
    let server = server().await;
    odoo_database(server, "dump_dropped").await;
    let temp = tempfile::tempdir().unwrap();
    // A pg_dump that loses the race against the collector: the database is
    // dropped under it (for real, through psql), then it fails.
    let pg_dump = temp.path().join("pg_dump");
    std::fs::write(
        &pg_dump,
        format!(
            "#!/bin/sh\n{} --dbname=postgres -q -c 'DROP DATABASE \"'\"$PGDATABASE\"'\" WITH (FORCE)' || exit 3\n\
             echo 'pg_dump: error: query failed' >&2\nexit 1\n",
            server.binaries.program("psql").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&pg_dump, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out_dir = temp.path().join("dumps");
    std::fs::create_dir(&out_dir).unwrap();
    let error = write_dump(
        &source(server, &pg_dump, "dump_dropped"),
        DumpFormat::Zip,
        &out_dir.join("x.zip"),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, DumpError::DatabaseGone { .. }), "{error:?}");
    assert!(!server
        .cluster
        .database_exists("dump_dropped")
        .await
        .unwrap());
    assert!(dir_names(&out_dir).is_empty());
}

#[tokio::test]
async fn a_failing_pg_dump_leaves_nothing() {
    let server = server().await;
    odoo_database(server, "dump_failing").await;
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("x.zip");

    let error = write_dump(
        &source(server, Path::new("/bin/false"), "dump_failing"),
        DumpFormat::Zip,
        &out,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, DumpError::PgDump { .. }), "{error:?}");
    assert!(error.to_string().contains("'dump_failing'"), "{error}");
    assert!(dir_names(temp.path()).is_empty());

    // A destination that is a directory is refused before any work.
    let error = write_dump(
        &source(server, Path::new("/bin/false"), "dump_failing"),
        DumpFormat::Zip,
        temp.path(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, DumpError::OutputNotWritable { .. }),
        "{error:?}"
    );
    assert!(dir_names(temp.path()).is_empty());

    let missing = temp.path().join("no-pg_dump");
    let error = write_dump(
        &source(server, &missing, "dump_failing"),
        DumpFormat::PgCustom,
        &out,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, DumpError::PgDumpMissing { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("no-pg_dump"), "{error}");
    assert!(dir_names(temp.path()).is_empty());

    // Wrong credentials: pg_dump is not even started.
    let pg_dump = server.binaries.program("pg_dump");
    let mut wrong = source(server, &pg_dump, "dump_failing");
    wrong.connection.retain(|(key, _)| key != "PGPASSWORD");
    wrong
        .connection
        .push(("PGPASSWORD".to_string(), "wrong".to_string()));
    let error = write_dump(&wrong, DumpFormat::PgCustom, &out)
        .await
        .unwrap_err();
    assert!(matches!(error, DumpError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains("password authentication failed"),
        "{error}"
    );
    assert!(dir_names(temp.path()).is_empty());
}

#[tokio::test]
async fn a_database_without_odoo_has_no_zip_but_a_pg_dump() {
    let server = server().await;
    let cluster = &server.cluster;
    cluster
        .create_database("dump_plain", &cluster.superuser)
        .await
        .unwrap();
    cluster
        .connect("dump_plain")
        .await
        .unwrap()
        .batch_execute("CREATE TABLE thing (id int)")
        .await
        .unwrap();
    let temp = tempfile::tempdir().unwrap();
    let pg_dump = server.binaries.program("pg_dump");
    let source = source(server, &pg_dump, "dump_plain");
    let error = write_dump(&source, DumpFormat::Zip, &temp.path().join("x.zip"))
        .await
        .unwrap_err();
    assert!(matches!(error, DumpError::NotOdoo { .. }), "{error:?}");
    assert!(error.to_string().contains("ir_module_module"), "{error}");
    assert!(dir_names(temp.path()).is_empty());
    write_dump(&source, DumpFormat::PgCustom, &temp.path().join("x.dump"))
        .await
        .unwrap();
    assert_eq!(dir_names(temp.path()), ["x.dump"]);
}

#[tokio::test]
async fn a_missing_filestore_is_no_filestore() {
    let server = server().await;
    odoo_database(server, "dump_no_filestore").await;
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("x.zip");
    let pg_dump = server.binaries.program("pg_dump");
    let missing = temp.path().join("data/filestore/dump_no_filestore");
    let mut source = source(server, &pg_dump, "dump_no_filestore");
    source.filestore = Some(&missing);
    let summary = write_dump(&source, DumpFormat::Zip, &out).await.unwrap();
    assert_eq!(summary.filestore_files, 0);
    assert!(summary.skipped.is_empty());
    let zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(zip_names(&zip), ["dump.sql", "manifest.json"]);
}
