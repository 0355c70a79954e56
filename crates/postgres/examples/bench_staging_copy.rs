//! Cost of a staging copy of a ~1 GB production database: slipway's method
//! (`copy_live_database`: disconnect, `CREATE DATABASE ... TEMPLATE ...
//! STRATEGY FILE_COPY`, hand the objects to the copy's role) against the naive
//! `pg_dump -Fc | pg_restore`, in the same run, on a fresh embedded PostgreSQL.
//!
//! `cargo run --release -p slipway_postgres --example bench_staging_copy [MB]`
//!
//! The database is grown with rows shaped like Odoo's busiest tables
//! (`mail_message`-like: text bodies, a composite index). Prints each round
//! and the medians. Not a test: nothing is asserted on timings.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use slipway_postgres::{ClusterUser, EmbeddedCluster, PgBinaries};

const ROUNDS: usize = 5;
/// Rows of ~1 KB per MB wanted (table + index overhead included).
const ROWS_PER_MB: i64 = 980;

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

#[tokio::main]
async fn main() {
    let megabytes: i64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1024);
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

    let (source, role) = ("bench_production", "bench_production");
    cluster.create_role(role, "secret-1").await.unwrap();
    cluster.create_database(source, role).await.unwrap();
    let owner = cluster
        .connect_as(source, role, Some("secret-1"))
        .await
        .unwrap();
    let started = Instant::now();
    owner
        .batch_execute(&format!(
            "CREATE TABLE mail_message (
                 id serial PRIMARY KEY, model varchar, res_id int, author_id int,
                 date timestamp, subject varchar, body text);
             INSERT INTO mail_message (model, res_id, author_id, date, subject, body)
             SELECT 'res.partner', n % 50000, n % 300, now() - n * interval '1 minute',
                    'Message ' || n,
                    repeat(md5(n::text), 28)
               FROM generate_series(1, {}) AS n;
             CREATE INDEX mail_message_model_res_id ON mail_message (model, res_id);
             CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar);
             INSERT INTO res_partner (name, email)
             SELECT 'Partner ' || n, 'p' || n || '@example.com' FROM generate_series(1, 50000) AS n;",
            megabytes * ROWS_PER_MB
        ))
        .await
        .unwrap();
    drop(owner);
    cluster.settle_database(source, role).await.unwrap();
    let admin = cluster.connect("postgres").await.unwrap();
    let size: String = admin
        .query_one("SELECT pg_size_pretty(pg_database_size($1))", &[&source])
        .await
        .unwrap()
        .get(0);
    println!(
        "production database: {size} (grown in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let env = cluster.libpq_env();
    let (mut ours, mut naive) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        // A session on production, as a serving Odoo keeps: ours disconnects it.
        let _live = cluster.connect(source).await.unwrap();
        let copy = format!("bench_copy_{round}");
        cluster.create_role(&copy, "secret-2").await.unwrap();
        let started = Instant::now();
        cluster
            .copy_live_database(source, role, &copy, &copy)
            .await
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        ours.push(seconds);
        cluster.drop_database(&copy).await.unwrap();
        cluster.drop_role(&copy).await.unwrap();

        let restored = format!("bench_restore_{round}");
        cluster.create_role(&restored, "secret-3").await.unwrap();
        let started = Instant::now();
        cluster.create_database(&restored, &restored).await.unwrap();
        let mut dump = Command::new(binaries.program("pg_dump"))
            .args(["-Fc", source])
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let status = Command::new(binaries.program("pg_restore"))
            .args(["--no-owner", "--role", &restored, "-d", &restored])
            .envs(env.iter().cloned())
            .stdin(dump.stdout.take().unwrap())
            .status()
            .unwrap();
        assert!(status.success() && dump.wait().unwrap().success());
        let naive_seconds = started.elapsed().as_secs_f64();
        naive.push(naive_seconds);
        cluster.drop_database(&restored).await.unwrap();
        cluster.drop_role(&restored).await.unwrap();
        println!("round {round}: CREATE DATABASE ... TEMPLATE (FILE_COPY) {seconds:.2} s, pg_dump | pg_restore {naive_seconds:.2} s");
    }
    println!(
        "median of {ROUNDS}: slipway {:.2} s, pg_dump | pg_restore {:.2} s",
        median(ours),
        median(naive)
    );
}
