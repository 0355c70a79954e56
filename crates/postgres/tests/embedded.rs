//! A real embedded cluster: creation, per-build roles and databases, template
//! copies, cleanup.

use std::os::unix::fs::PermissionsExt;

use slipway_postgres::{ClusterUser, DatabaseCopy, EmbeddedCluster, PgBinaries};

struct Stopped(EmbeddedCluster);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

fn embedded(dir: &std::path::Path) -> EmbeddedCluster {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // PostgreSQL refuses root; `nobody` stands in for slipway's system user here.
    let run_as = (unsafe { libc::geteuid() } == 0).then_some(ClusterUser {
        uid: 65534,
        gid: 65534,
    });
    EmbeddedCluster::new(
        dir.join("postgres"),
        PgBinaries::find(None).unwrap(),
        run_as,
    )
}

#[tokio::test]
async fn build_roles_own_only_their_database_and_copies_change_hands() {
    let temp = tempfile::tempdir().unwrap();
    let guard = Stopped(embedded(temp.path()));
    let cluster = guard.0.ensure_running().await.unwrap();
    // Idempotent: a second call finds it running.
    guard.0.ensure_running().await.unwrap();

    cluster.create_role("tpl_owner", "tpl-pw").await.unwrap();
    cluster
        .create_database("tpl_db", "tpl_owner")
        .await
        .unwrap();
    let as_tpl = cluster
        .connect_as("tpl_db", "tpl_owner", Some("tpl-pw"))
        .await
        .unwrap();
    as_tpl.batch_execute("CREATE TABLE thing (id serial PRIMARY KEY, name text); INSERT INTO thing (name) VALUES ('x')").await.unwrap();
    drop(as_tpl);
    cluster.create_role("build_a", "a-pw").await.unwrap();
    // Still owned by its builder: a copy would hand the template itself over.
    let refused = cluster
        .copy_database(
            "tpl_db",
            "tpl_owner",
            "build_a_db",
            "build_a",
            DatabaseCopy::WalLog,
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(slipway_postgres::PgError::TemplateNotFrozen(_))
        ),
        "{refused:?}"
    );
    cluster.take_database_ownership("tpl_db").await.unwrap();

    cluster
        .copy_database(
            "tpl_db",
            "tpl_owner",
            "build_a_db",
            "build_a",
            DatabaseCopy::WalLog,
        )
        .await
        .unwrap();
    let as_a = cluster
        .connect_as("build_a_db", "build_a", Some("a-pw"))
        .await
        .unwrap();
    let owner: String = as_a
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'thing'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "build_a");
    as_a.batch_execute(
        "INSERT INTO thing (name) VALUES ('y'); ALTER TABLE thing ADD COLUMN extra int",
    )
    .await
    .unwrap();

    // Another build's role cannot even connect.
    cluster.create_role("build_b", "b-pw").await.unwrap();
    let refused = cluster
        .connect_as("build_a_db", "build_b", Some("b-pw"))
        .await;
    assert!(refused.is_err());
    // Wrong password is refused too (no peer/trust shortcut).
    assert!(cluster
        .connect_as("build_a_db", "build_a", Some("wrong"))
        .await
        .is_err());

    // The template kept its own content and owner.
    let as_admin = cluster.connect("tpl_db").await.unwrap();
    let rows: i64 = as_admin
        .query_one("SELECT count(*) FROM thing", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);

    // Dropping works while the build's session is still connected.
    cluster.drop_database("build_a_db").await.unwrap();
    cluster.drop_role("build_a").await.unwrap();
    drop(as_a);
    assert!(!cluster.database_exists("build_a_db").await.unwrap());
    assert_eq!(
        cluster.roles_with_prefix("build_a").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        cluster.databases_with_prefix("tpl_").await.unwrap(),
        vec!["tpl_db".to_string()]
    );

    assert!(guard.0.stop().unwrap());
    assert!(!guard.0.is_running().unwrap());
}

#[tokio::test]
async fn the_cluster_listens_on_no_tcp_port() {
    let temp = tempfile::tempdir().unwrap();
    let guard = Stopped(embedded(temp.path()));
    guard.0.ensure_running().await.unwrap();
    let conf = std::fs::read_to_string(guard.0.data_dir().join("postgresql.conf")).unwrap();
    assert!(conf.contains("listen_addresses = ''"));
    let external =
        slipway_postgres::Cluster::external("postgresql://slipway:x@127.0.0.1:5432/postgres")
            .unwrap();
    // Whatever listens on 5432 on this host, it is not ours with this password.
    assert!(external.ping().await.is_err());
}

#[tokio::test]
async fn a_live_production_database_is_copied_while_its_role_keeps_working_in_it() {
    let temp = tempfile::tempdir().unwrap();
    let guard = Stopped(embedded(temp.path()));
    let cluster = guard.0.ensure_running().await.unwrap();
    cluster.create_role("prod_a", "a-pw").await.unwrap();
    cluster.create_database("prod_a", "prod_a").await.unwrap();
    // Not settled yet: a copy would take the database object itself.
    cluster.create_role("prod_b", "b-pw").await.unwrap();
    let refused = cluster
        .copy_live_database("prod_a", "prod_a", "prod_b", "prod_b")
        .await;
    assert!(
        matches!(
            refused,
            Err(slipway_postgres::PgError::TemplateNotFrozen(_))
        ),
        "{refused:?}"
    );
    cluster.settle_database("prod_a", "prod_a").await.unwrap();
    let as_a = cluster
        .connect_as("prod_a", "prod_a", Some("a-pw"))
        .await
        .unwrap();
    as_a.batch_execute("CREATE TABLE partner (id serial PRIMARY KEY, name text); INSERT INTO partner (name) VALUES ('kept')")
        .await
        .unwrap();

    // Copied while a session of the source is open (it is disconnected).
    cluster
        .copy_live_database("prod_a", "prod_a", "prod_b", "prod_b")
        .await
        .unwrap();
    assert!(
        as_a.simple_query("SELECT 1").await.is_err(),
        "the source's sessions were disconnected for the copy"
    );
    let as_b = cluster
        .connect_as("prod_b", "prod_b", Some("b-pw"))
        .await
        .unwrap();
    let (rows, owner): (i64, String) = {
        let row = as_b
            .query_one(
                "SELECT (SELECT count(*) FROM partner), \
                        (SELECT tableowner::text FROM pg_tables WHERE tablename = 'partner')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((rows, owner.as_str()), (1, "prod_b"));
    // The copy's role can add tables (Odoo installs modules into it).
    as_b.batch_execute("CREATE TABLE added (id int)")
        .await
        .unwrap();
    // The source still belongs to its role, which still works in it.
    let as_a = cluster
        .connect_as("prod_a", "prod_a", Some("a-pw"))
        .await
        .unwrap();
    as_a.batch_execute(
        "CREATE TABLE after_copy (id int); INSERT INTO partner (name) VALUES ('later')",
    )
    .await
    .unwrap();
    // Neither role can reach the other's database.
    assert!(cluster
        .connect_as("prod_b", "prod_a", Some("a-pw"))
        .await
        .is_err());
    // Dropping the old production build leaves nothing the copy depends on.
    drop(as_a);
    cluster.drop_database("prod_a").await.unwrap();
    cluster.drop_role("prod_a").await.unwrap();
    let rows: i64 = as_b
        .query_one("SELECT count(*) FROM partner", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}
