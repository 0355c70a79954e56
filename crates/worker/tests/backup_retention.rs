//! The worker serving production applies each project's backup retention:
//! what the policy no longer keeps is deleted from the disk and marked so,
//! and filestore files no backup holds any more leave the pool.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::{Host, WORKER};

#[tokio::test]
async fn the_worker_deletes_the_backups_its_project_no_longer_keeps() {
    let host = Host::start("retention", slipway_worker::LEASE, None).await;
    let project = host
        .project("shop", "https://example.com/shop.git", "14.0")
        .await;
    let sql = host.sql().await;
    // Production served by this worker (its database is never read here).
    sql.execute(
        "INSERT INTO branches (project_id, name, stage, head) VALUES ($1, 'main', 'production', $2)",
        &[&project.id, &"a".repeat(40)],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO builds (project_id, branch_id, commit, stage, state, status, worker, database, started_at, finished_at)
         SELECT $1, id, $2, 'production', 'serving', 'success', $3, 'slipway_b_none', now(), now() FROM branches WHERE project_id = $1",
        &[&project.id, &"a".repeat(40), &WORKER],
    )
    .await
    .unwrap();
    // Ten verified daily backups, one a day, today's included (so the daily
    // one is not due); the policy keeps 7.
    // Rows and files are all there before the worker sees any of them (one
    // transaction, committed last): its backup loop runs on its own.
    let mut sql = sql;
    let transaction = sql.transaction().await.unwrap();
    let store = host.home.path().join("backups/shop");
    let mut ids = vec![];
    for days_ago in (0..10).rev() {
        let id: i64 = transaction
            .query_one(
                "INSERT INTO backups (project_id, kind, state, verification, worker, created_at, size_bytes)
                 VALUES ($1, 'daily', 'done', 'ok', $2, now() - $3::int * interval '1 day', 1) RETURNING id",
                &[&project.id, &WORKER, &days_ago],
            )
            .await
            .unwrap()
            .get(0);
        std::fs::create_dir_all(store.join(id.to_string()).join("filestore/ab")).unwrap();
        ids.push(id);
    }
    // A filestore file only the oldest backup holds, and one the newest
    // holds too.
    let pool = store.join("pool/ab");
    std::fs::create_dir_all(&pool).unwrap();
    std::fs::write(pool.join("ab01"), b"only in the oldest").unwrap();
    std::fs::write(pool.join("ab02"), b"in the oldest and the newest").unwrap();
    let oldest = store.join(ids[0].to_string()).join("filestore/ab");
    let newest = store.join(ids[9].to_string()).join("filestore/ab");
    std::fs::hard_link(pool.join("ab01"), oldest.join("ab01")).unwrap();
    std::fs::hard_link(pool.join("ab02"), oldest.join("ab02")).unwrap();
    std::fs::hard_link(pool.join("ab02"), newest.join("ab02")).unwrap();
    transaction.commit().await.unwrap();

    let deleted = || async {
        let rows = host
            .sql()
            .await
            .query(
                "SELECT id FROM backups WHERE state = 'deleted' ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.get::<_, i64>(0))
            .collect::<Vec<_>>()
    };
    let started = std::time::Instant::now();
    while deleted().await.len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "retention did not run: {:?}",
            deleted().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(deleted().await, ids[..3], "the three oldest go");
    for (index, id) in ids.iter().enumerate() {
        assert_eq!(
            store.join(id.to_string()).exists(),
            index >= 3,
            "backup #{id}'s directory"
        );
    }
    // The pool is collected in the same round as the deletions.
    assert!(
        !pool.join("ab01").exists(),
        "a file no backup holds leaves the pool"
    );
    assert_eq!(std::fs::metadata(pool.join("ab02")).unwrap().nlink(), 2);
    host.stop().await;
}
