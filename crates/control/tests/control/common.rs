//! One embedded PostgreSQL for the whole test binary (stopped and removed when
//! the process exits), and a fresh, migrated database per test.

use std::collections::BTreeMap;

use slipway_control::{
    add_project, migrate, sync_branches, BranchChanges, NewProject, Project, ProjectSettings,
};
use slipway_postgres::Cluster;
use tokio_postgres::Client;

use slipway_postgres::test_support::shared as server;

/// A test's own database, migrated.
pub struct Db {
    pub name: String,
    pub cluster: Cluster,
}

impl Db {
    pub async fn new(name: &str) -> Db {
        let db = Db::empty(name).await;
        let mut client = db.connect().await;
        migrate(&mut client).await.unwrap();
        db
    }

    /// A database without the schema.
    pub async fn empty(name: &str) -> Db {
        let server = server().await;
        let name = format!("t_{name}");
        server
            .cluster
            .create_database(&name, &server.cluster.superuser)
            .await
            .unwrap();
        Db {
            name,
            cluster: server.cluster.clone(),
        }
    }

    pub async fn connect(&self) -> Client {
        self.cluster.connect(&self.name).await.unwrap()
    }

    /// What a listener needs: the superuser's password is in the cluster's
    /// directory (0600, readable by root and the cluster's user).
    pub async fn config(&self) -> tokio_postgres::Config {
        let server = server().await;
        let password =
            std::fs::read_to_string(server.dir.join("postgres/superuser.password")).unwrap();
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(server.embedded.socket_dir())
            .port(5432)
            .user(&server.cluster.superuser)
            .password(password.trim())
            .dbname(&self.name);
        config
    }
}

pub fn new_project(name: &str) -> NewProject {
    NewProject {
        name: name.to_string(),
        repo_url: format!("https://git.example/{name}.git"),
        odoo: "17.0".to_string(),
        production_branch: "main".to_string(),
        webhook_secret: "s3cret".to_string(),
        settings: ProjectSettings::default(),
    }
}

pub async fn project(client: &Client, name: &str) -> Project {
    add_project(client, &new_project(name)).await.unwrap()
}

pub fn heads(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, head)| (name.to_string(), head.to_string()))
        .collect()
}

pub async fn sync(client: &mut Client, project: &Project, pairs: &[(&str, &str)]) -> BranchChanges {
    sync_branches(client, project.id, &heads(pairs))
        .await
        .unwrap()
}

pub fn names(branches: &[slipway_control::Branch]) -> Vec<&str> {
    branches.iter().map(|branch| branch.name.as_str()).collect()
}

/// Makes every running build's lease expired, as if its worker had stopped
/// answering a while ago.
pub async fn expire_leases(client: &Client) {
    client
        .execute(
            "UPDATE builds SET lease_until = now() - interval '1 minute' WHERE state = 'running'",
            &[],
        )
        .await
        .unwrap();
}

/// A passing run's report with `tests_run` tests.
pub fn report(tests_run: u32) -> slipway_report::Report {
    serde_json::from_value(serde_json::json!({
        "status": "success",
        "commit": "c0",
        "odoo": "17.0",
        "modules": ["demo"],
        "tests": {"run": tests_run, "failed": 0, "errors": 0, "skipped": 0},
        "errors": [],
        "warnings": [],
        "duration_s": 1.5,
        "log": "/logs/odoo.log",
        "failed_tests": [],
    }))
    .unwrap()
}
