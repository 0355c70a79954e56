//! Latency of the builds page: `list_builds(project, None, 50)` over a project
//! with 10 000 builds (200 branches × 50), on a fresh embedded PostgreSQL.
//!
//! `cargo run --release -p slipway_control --example bench_builds_query`
//!
//! Prints p50/p99 over 1 000 calls (target: p99 < 50 ms). Not a test: nothing is
//! asserted on timings.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use slipway_control::{
    add_project, list_branches, list_builds, migrate, sync_branches, NewProject, ProjectSettings,
};
use slipway_postgres::{ClusterUser, EmbeddedCluster, PgBinaries};

const BRANCHES: usize = 200;
const BUILDS_PER_BRANCH: i32 = 50;
const CALLS: usize = 1_000;
const PAGE: u32 = 50;

struct Stopped(EmbeddedCluster);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

#[tokio::main]
async fn main() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // PostgreSQL refuses root; `nobody` runs it then.
    let run_as = (unsafe { libc::geteuid() } == 0).then_some(ClusterUser {
        uid: 65534,
        gid: 65534,
    });
    let guard = Stopped(EmbeddedCluster::new(
        temp.path().join("postgres"),
        PgBinaries::find(None).unwrap(),
        run_as,
    ));
    let cluster = guard.0.ensure_running().await.unwrap();
    cluster
        .create_database("bench_control", &cluster.superuser)
        .await
        .unwrap();
    let mut client = cluster.connect("bench_control").await.unwrap();
    migrate(&mut client).await.unwrap();

    let project = add_project(
        &client,
        &NewProject {
            name: "bench".into(),
            repo_url: "https://git.example/bench.git".into(),
            odoo: "17.0".into(),
            production_branch: "main".into(),
            webhook_secret: "x".into(),
            settings: ProjectSettings::default(),
        },
    )
    .await
    .unwrap();
    let mut heads = BTreeMap::new();
    heads.insert("main".to_string(), format!("{:040x}", 0));
    for n in 1..BRANCHES {
        heads.insert(format!("feature-{n:03}"), format!("{n:040x}"));
    }
    let changes = sync_branches(&mut client, project.id, &heads)
        .await
        .unwrap();
    let branch_ids: Vec<i64> = changes.created.iter().map(|branch| branch.id).collect();

    // 50 finished builds per branch, interleaved across branches as pushes would
    // be, each with a report of realistic size (~1 KB).
    let started = Instant::now();
    client
        .execute(
            "INSERT INTO builds (project_id, branch_id, commit, stage, state, status, attempts, \
                                 worker, created_at, started_at, finished_at, not_before, \
                                 url, port, database, log_path, report, reason) \
             SELECT $1, branch_id, md5(branch_id::text || '/' || n), 'development', 'done', \
                    (ARRAY['success', 'warning', 'failed'])[1 + (branch_id + n) % 3], 1, 'worker-1', \
                    t, t + interval '1 minute', t + interval '9 minutes', t, \
                    NULL, NULL, 'b_' || branch_id || '_' || n, \
                    '/var/lib/slipway/logs/' || branch_id || '/' || n || '.log', \
                    jsonb_build_object( \
                        'tests', jsonb_build_object('run', 412, 'failed', n % 3, 'skipped', 7), \
                        'modules', (SELECT jsonb_agg('module_' || m) FROM generate_series(1, 30) m), \
                        'warnings', jsonb_build_array('a warning of about this long, repeated', \
                                                      'another warning line with some detail')), \
                    NULL \
               FROM generate_series(1, $2::int) AS n, unnest($3::bigint[]) AS branch_id, \
                    LATERAL (SELECT now() - (($2::int - n) * 200 + branch_id) * interval '1 minute') AS at(t) \
              ORDER BY n, branch_id",
            &[&project.id, &BUILDS_PER_BRANCH, &branch_ids],
        )
        .await
        .unwrap();
    client.batch_execute("ANALYZE").await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM builds", &[])
        .await
        .unwrap()
        .get(0);
    println!(
        "filled {count} builds ({BRANCHES} branches x {BUILDS_PER_BRANCH}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let plan: Vec<String> = client
        .query(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) \
             SELECT b.id FROM builds b JOIN branches br ON br.id = b.branch_id \
              WHERE b.project_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT 50",
            &[&project.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    println!("plan:\n  {}", plan.join("\n  "));

    // Warm-up: caches, connection.
    for _ in 0..50 {
        list_builds(&client, project.id, None, PAGE).await.unwrap();
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let builds = list_builds(&client, project.id, None, PAGE).await.unwrap();
        samples.push(start.elapsed());
        assert_eq!(builds.len(), PAGE as usize);
    }
    report("list_builds(project, None, 50)", &mut samples);

    let mut samples = Vec::with_capacity(CALLS);
    for n in 0..CALLS {
        let branch = format!("feature-{:03}", 1 + n % (BRANCHES - 1));
        let start = Instant::now();
        list_builds(&client, project.id, Some(&branch), PAGE)
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
    report("list_builds(project, Some(branch), 50)", &mut samples);

    // The trap of an old, quiet project: 50 000 newer builds of another project
    // come after all of its builds in id order.
    client
        .batch_execute(
            "INSERT INTO projects (name, repo_url, odoo, production_branch, webhook_secret) \
             VALUES ('busy', 'https://git.example/busy.git', '17.0', 'main', 'x'); \
             INSERT INTO branches (project_id, name, stage) \
             SELECT p.id, 'b' || n, 'development' FROM projects p, generate_series(1, 200) n \
              WHERE p.name = 'busy'; \
             INSERT INTO builds (project_id, branch_id, commit, stage, state, status) \
             SELECT br.project_id, br.id, md5(br.id || '/' || n), 'development', 'done', 'success' \
               FROM branches br JOIN projects p ON p.id = br.project_id, generate_series(1, 250) n \
              WHERE p.name = 'busy'; \
             ANALYZE",
        )
        .await
        .unwrap();
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        list_builds(&client, project.id, None, PAGE).await.unwrap();
        samples.push(start.elapsed());
    }
    report(
        "list_builds(project, None, 50) with 50 000 newer builds of another project",
        &mut samples,
    );

    let mut samples = Vec::with_capacity(100);
    for _ in 0..100 {
        let start = Instant::now();
        let branches = list_branches(&client, "bench").await.unwrap();
        samples.push(start.elapsed());
        assert_eq!(branches.len(), BRANCHES);
    }
    report("list_branches(project) [200 rows]", &mut samples);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |quantile: f64| {
        let index = ((samples.len() as f64 * quantile).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
}
