//! Backup, verification and restore of a ~1 GB production, against the
//! naive way (Odoo's database-manager zip: plain `pg_dump` and the whole
//! filestore zipped; restored with `psql` as Odoo's `/web/database/restore`
//! does), in the same run on a fresh embedded PostgreSQL; then a simulated
//! week of daily backups: the bytes each adds to the backup disk with the
//! filestore stored once by content, and without.
//!
//! `cargo run --release -p slipway_backup --example bench_backup [MB] [ROUNDS]`
//!
//! The database is grown with rows shaped like Odoo's busiest tables (text
//! of real words, not repeated patterns, so that compression meets what it
//! meets in production), and a filestore of incompressible attachments (as
//! PDFs and images are). Not a test: nothing is asserted on timings.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use sha1::{Digest, Sha1};
use slipway_backup::{BackupKind, BackupOrigin, BackupSource, BackupStore, RestoreTarget};
use slipway_postgres::{Cluster, ClusterUser, EmbeddedCluster, PgBinaries};

const DATABASE: &str = "bench_production";
/// `mail_message` rows of ~1 KB per MB wanted.
const ROWS_PER_MB: i64 = 800;
/// The filestore's share of production, and what a day adds to it.
const FILESTORE_MB: usize = 200;
const DAILY_FILES_MB: usize = 20;
const DAILY_MESSAGES: i64 = 20_000;
const DAYS: usize = 7;

struct Stopped(EmbeddedCluster);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Attachments as Odoo writes them: named by their SHA-1, random bytes
/// (nothing to compress), 50 to 150 KB each; `seed` makes each call's new.
async fn attach(cluster: &Cluster, filestore: &Path, megabytes: usize, seed: u64) {
    let client = cluster.connect(DATABASE).await.unwrap();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut written = 0;
    while written < megabytes << 20 {
        let size = 50_000 + (next() % 100_000) as usize;
        let content: Vec<u8> = (0..size / 8).flat_map(|_| next().to_le_bytes()).collect();
        let sha = hex::encode(Sha1::digest(&content));
        let name = format!("{}/{}", &sha[..2], sha);
        let path = filestore.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &content).unwrap();
        client
            .execute(
                "INSERT INTO ir_attachment (name, store_fname, file_size) VALUES ('scan.pdf', $1, $2)",
                &[&name, &(content.len() as i32)],
            )
            .await
            .unwrap();
        written += content.len();
    }
}

/// `count` messages of real words (~1 KB each).
async fn add_messages(cluster: &Cluster, count: i64) {
    cluster
        .connect(DATABASE)
        .await
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO mail_message (model, res_id, author_id, date, subject, body)
             SELECT 'res.partner', n % 50000, n % 300, now() - n * interval '1 minute',
                    'Re: order ' || n,
                    '<p>' || (SELECT string_agg(words.w[1 + floor(random() * array_length(words.w, 1))::int + 0 * g], ' ')
                                FROM generate_series(1, 150 + n % 7) AS g) || '</p>'
               FROM generate_series(1, {count}) AS n,
                    (SELECT ARRAY['invoice','delivery','customer','order','payment','the','a','of',
                       'to','and','please','find','attached','quotation','thank','you','for','your','request',
                       'we','will','ship','tomorrow','warehouse','stock','product','price','discount','tax',
                       'regards','meeting','schedule','project','task','deadline','review','approved',
                       'sales','team','contract','renewal','support','ticket','issue','resolved','update'] AS w) AS words;"
        ))
        .await
        .unwrap();
}

#[tokio::main]
async fn main() {
    let megabytes: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let temp = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run_as = (unsafe { libc::geteuid() } == 0).then_some(ClusterUser {
        uid: 65534,
        gid: 65534,
    });
    let binaries = PgBinaries::find(None).unwrap();
    let guard = Stopped(EmbeddedCluster::new(
        temp.path().join("postgres"),
        binaries.clone(),
        run_as,
    ));
    let cluster = guard.0.ensure_running().await.unwrap();
    let (pg_dump, pg_restore, psql) = (
        binaries.program("pg_dump"),
        binaries.program("pg_restore"),
        binaries.program("psql"),
    );

    // Production: Odoo's tables a backup reads, and the bulk.
    let started = Instant::now();
    cluster
        .connect("postgres")
        .await
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .await
        .unwrap();
    cluster
        .connect(DATABASE)
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar, state varchar, latest_version varchar);
             INSERT INTO ir_module_module (name, state, latest_version)
               SELECT 'module_' || n, 'installed', '17.0.1.' || n FROM generate_series(1, 120) n;
             INSERT INTO ir_module_module (name, state, latest_version) VALUES ('base', 'installed', '17.0.1.3');
             CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar, value text);
             CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar, street varchar, city varchar, comment text);
             INSERT INTO res_partner (name, email, street, city, comment)
               SELECT 'Partner ' || n, 'p' || n || '@example.com', n || ' Main Street', 'City ' || (n % 400), NULL
               FROM generate_series(1, 50000) n;
             CREATE TABLE mail_message (id serial PRIMARY KEY, model varchar, res_id int, author_id int,
                                        date timestamp, subject varchar, body text);
             CREATE INDEX mail_message_model_res_id ON mail_message (model, res_id);
             CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar, store_fname varchar, file_size int);",
        )
        .await
        .unwrap();
    let data_dir = temp.path().join("data");
    let filestore_relative = Path::new("filestore").join(DATABASE);
    let filestore = data_dir.join(&filestore_relative);
    add_messages(
        &cluster,
        (megabytes - FILESTORE_MB as i64).max(1) * ROWS_PER_MB,
    )
    .await;
    attach(&cluster, &filestore, FILESTORE_MB, 1).await;
    let database_bytes = cluster.database_size(DATABASE).await.unwrap().unwrap();
    println!(
        "production: database {}, filestore {} MiB (grown in {:.0} s)",
        mib(database_bytes),
        FILESTORE_MB,
        started.elapsed().as_secs_f64()
    );
    let source = |data_dir: &'static Path| BackupSource {
        cluster: &cluster,
        pg_dump: &pg_dump,
        database: DATABASE,
        data_dir,
        filestore: Box::leak(filestore_relative.clone().into_boxed_path()),
        origin: BackupOrigin::default(),
    };
    let data_dir: &'static Path = Box::leak(data_dir.into_boxed_path());

    let (mut backup_s, mut verify_s, mut restore_s, mut zip_s, mut psql_s) =
        (vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=rounds {
        // Each round's own store: the first backup of a store pools every file.
        let store = BackupStore::new(temp.path().join(format!("backups-{round}"))).project("bench");
        let started = Instant::now();
        let backup = slipway_backup::create(&store, "1", BackupKind::Manual, &source(data_dir))
            .await
            .unwrap();
        let backed_up = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let verified = slipway_backup::verify(&backup, &cluster, &pg_restore, "bench_verify")
            .await
            .unwrap();
        assert!(verified.ok(), "{:?}", verified.problems);
        let verification = started.elapsed().as_secs_f64();
        let role = format!("bench_restore_{round}");
        cluster.create_role(&role, "secret").await.unwrap();
        let restored_files = temp.path().join(format!("restored-{round}"));
        let started = Instant::now();
        slipway_backup::restore(
            &backup,
            &RestoreTarget {
                cluster: &cluster,
                pg_restore: &pg_restore,
                database: &role,
                role: &role,
                password: "secret",
                filestore: restored_files.clone(),
                series: "17.0",
            },
        )
        .await
        .unwrap();
        let restore = started.elapsed().as_secs_f64();
        cluster.drop_database(&role).await.unwrap();
        cluster.drop_role(&role).await.unwrap();
        std::fs::remove_dir_all(&restored_files).unwrap();

        // The naive way: Odoo's database-manager zip, restored with psql.
        let zip = temp.path().join(format!("odoo-{round}.zip"));
        let started = Instant::now();
        slipway_dump::write_dump(
            &slipway_dump::DumpSource {
                pg_dump: &pg_dump,
                connection: cluster.libpq_env(),
                database: DATABASE,
                filestore: Some(&filestore),
            },
            slipway_dump::DumpFormat::Zip,
            &zip,
        )
        .await
        .unwrap();
        let zipped = started.elapsed().as_secs_f64();
        let unpacked = temp.path().join(format!("unpacked-{round}"));
        std::fs::create_dir(&unpacked).unwrap();
        let naive_db = format!("bench_naive_{round}");
        let started = Instant::now();
        let into = unpacked.clone();
        let sql = tokio::task::spawn_blocking(move || {
            slipway_backup::zip_import::unpack(&zip, "17.0", &into, &Default::default())
                .map(|u| u.sql)
        })
        .await
        .unwrap()
        .unwrap();
        cluster
            .connect("postgres")
            .await
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {naive_db}"))
            .await
            .unwrap();
        let status = std::process::Command::new(&psql)
            .args(["-q", "-X", "-f"])
            .arg(&sql)
            .envs(cluster.libpq_env())
            .env("PGDATABASE", &naive_db)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let psql_restore = started.elapsed().as_secs_f64();
        cluster.drop_database(&naive_db).await.unwrap();
        std::fs::remove_dir_all(&unpacked).unwrap();
        let _ = std::fs::remove_file(temp.path().join(format!("odoo-{round}.zip")));
        println!(
            "round {round}: backup {backed_up:.1} s ({}), verification {verification:.1} s, restore {restore:.1} s | Odoo zip {zipped:.1} s, its restore (unzip + psql) {psql_restore:.1} s",
            mib(backup.manifest.stored_bytes())
        );
        backup_s.push(backed_up);
        verify_s.push(verification);
        restore_s.push(restore);
        zip_s.push(zipped);
        psql_s.push(psql_restore);
        std::fs::remove_dir_all(store.dir()).unwrap();
    }
    println!(
        "median of {rounds}: backup {:.1} s, verification {:.1} s, restore {:.1} s | Odoo zip {:.1} s, unzip + psql {:.1} s",
        median(backup_s),
        median(verify_s),
        median(restore_s),
        median(zip_s),
        median(psql_s)
    );

    // A week of daily backups, production growing each day.
    let store = BackupStore::new(temp.path().join("week")).project("bench");
    let (mut with_dedup, mut without) = (0u64, 0u64);
    println!(
        "| day | backup (dump + filestore) | added to the disk (files stored once) | a full copy per backup |"
    );
    for day in 1..=DAYS {
        if day > 1 {
            add_messages(&cluster, DAILY_MESSAGES).await;
            attach(&cluster, &filestore, DAILY_FILES_MB, day as u64 + 1).await;
        }
        let backup = slipway_backup::create(
            &store,
            &day.to_string(),
            BackupKind::Daily,
            &source(data_dir),
        )
        .await
        .unwrap();
        let manifest = &backup.manifest;
        // Without the pool: the dump and the whole filestore, every day.
        let full = manifest.database.bytes + manifest.filestore.bytes;
        with_dedup += manifest.stored_bytes();
        without += full;
        println!(
            "| {day} | {} | {} | {} |",
            mib(manifest.size_bytes()),
            mib(manifest.stored_bytes()),
            mib(full)
        );
    }
    println!(
        "| week | | {} (on disk: {}) | {} |",
        mib(with_dedup),
        mib(store.disk_bytes().unwrap()),
        mib(without)
    );
}
