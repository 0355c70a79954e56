//! The JSON of each type is the one docs/api.md documents, and reads back.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use time::macros::datetime;

use super::*;

/// `value` is written as `expected`, and `expected` reads back as `value`.
fn wire<T>(value: &T, expected: Value)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(serde_json::to_value(value).unwrap(), expected);
    assert_eq!(&serde_json::from_value::<T>(expected).unwrap(), value);
}

fn build() -> Build {
    Build {
        id: 7,
        branch: "main".into(),
        stage: Stage::Production,
        duplicate: false,
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        state: BuildState::Serving,
        status: Some(BuildStatus::Success),
        created_at: datetime!(2026-11-28 06:33:24 UTC),
        finished_at: None,
        url: Some("http://7.slipway.test:8800".into()),
        sources: Vec::new(),
        disk: None,
    }
}

fn build_json() -> Value {
    json!({
        "id": 7,
        "branch": "main",
        "stage": "production",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "state": "serving",
        "status": "success",
        "created_at": "2026-11-28T06:33:24Z",
        "finished_at": null,
        "url": "http://7.slipway.test:8800",
    })
}

/// `object` with `fields` added or replaced.
fn with(mut object: Value, fields: Value) -> Value {
    let object_fields = object.as_object_mut().unwrap();
    object_fields.extend(fields.as_object().unwrap().clone());
    object
}

#[test]
fn a_build_has_its_documented_fields_and_duplicate_only_when_true() {
    let mut build = build();
    wire(&build, build_json());

    build.duplicate = true;
    build.finished_at = Some(datetime!(2026-11-28 06:40:00 UTC));
    wire(
        &build,
        with(
            build_json(),
            json!({"duplicate": true, "finished_at": "2026-11-28T06:40:00Z"}),
        ),
    );

    // The fraction of a second never reaches the wire.
    build.created_at += time::Duration::milliseconds(999);
    let json = serde_json::to_value(&build).unwrap();
    assert_eq!(json["created_at"], "2026-11-28T06:33:24Z");
}

#[test]
fn one_build_adds_reason_report_and_database() {
    let detail = BuildDetail {
        build: build(),
        reason: None,
        report: None,
        report_unreadable: true,
        database: Some("slipway_b_ab12".into()),
    };
    wire(
        &detail,
        with(
            build_json(),
            json!({"reason": null, "report": null, "report_unreadable": true,
                   "database": "slipway_b_ab12"}),
        ),
    );
}

#[test]
fn a_measured_build_says_what_its_database_and_files_take_on_disk() {
    let mut measured = build();
    measured.disk = Some(DiskUse {
        database_bytes: 12_345_678,
        files_bytes: 4096,
        measured_at: datetime!(2026-12-07 16:40:00 UTC),
    });
    wire(
        &measured,
        with(
            build_json(),
            json!({"disk": {"database_bytes": 12_345_678, "files_bytes": 4096,
                            "measured_at": "2026-12-07T16:40:00Z"}}),
        ),
    );
}

#[test]
fn a_branch_carries_its_last_build_or_null() {
    let mut branch = Branch {
        name: "main".into(),
        stage: Stage::Production,
        head: None,
        last_build: None,
        odoo_rev: None,
    };
    wire(
        &branch,
        json!({"name": "main", "stage": "production", "head": null, "last_build": null}),
    );
    branch.last_build = Some(build());
    wire(
        &branch,
        json!({"name": "main", "stage": "production", "head": null,
               "last_build": build_json()}),
    );
    branch.odoo_rev = Some("0123456789abcdef0123456789abcdef01234567".into());
    wire(
        &branch,
        json!({"name": "main", "stage": "production", "head": null,
               "last_build": build_json(),
               "odoo_rev": "0123456789abcdef0123456789abcdef01234567"}),
    );
}

#[test]
fn a_build_on_odoo_from_source_lists_its_commits() {
    let mut build = build();
    build.sources = vec![BuildSource {
        kind: SourceKind::Odoo,
        name: "odoo".into(),
        url: "https://github.com/odoo/odoo.git".into(),
        commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
        branch: Some("19.0".into()),
    }];
    wire(
        &build,
        with(
            build_json(),
            json!({"sources": [{"kind": "odoo", "name": "odoo",
                                "url": "https://github.com/odoo/odoo.git",
                                "commit": "89abcdef0123456789abcdef0123456789abcdef",
                                "branch": "19.0"}]}),
        ),
    );
}

#[test]
fn a_rebuild_keeps_the_odoo_of_the_last_build_unless_asked() {
    let request: RebuildRequest = serde_json::from_value(json!({"branch": "main"})).unwrap();
    assert!(!request.newest_odoo);
    wire(
        &RebuildRequest {
            branch: "main".into(),
            newest_odoo: true,
        },
        json!({"branch": "main", "newest_odoo": true}),
    );
}

#[test]
fn accounts_list_their_roles_per_project() {
    let user = User {
        login: "ada".into(),
        admin: false,
        created_at: datetime!(2024-05-01 12:00:00 UTC),
        roles: vec![ProjectRole {
            project: "acme".into(),
            role: Role::Developer,
        }],
    };
    wire(
        &user,
        json!({"login": "ada", "admin": false, "created_at": "2024-05-01T12:00:00Z",
               "roles": [{"project": "acme", "role": "developer"}]}),
    );
}

#[test]
fn an_added_project_is_the_project_with_its_branch_count_and_secret() {
    let added = AddedProject {
        project: Project {
            name: "acme".into(),
            repo: "https://git.example.com/acme.git".into(),
            odoo: "14.0".into(),
            production_branch: "main".into(),
            odoo_sources: Vec::new(),
            odoo_follow: None,
            limits: ProjectLimits::default(),
        },
        branches: 3,
        webhook_secret: "s3cret".into(),
    };
    let expected = json!({"name": "acme", "repo": "https://git.example.com/acme.git",
                          "odoo": "14.0", "production_branch": "main", "branches": 3,
                          "webhook_secret": "s3cret"});
    assert_eq!(serde_json::to_value(&added).unwrap(), expected);
    assert!(serde_json::from_value::<AddedProject>(expected).unwrap() == added);
}

#[test]
fn a_project_on_odoo_from_source_lists_its_sources_and_how_it_follows_them() {
    let project = Project {
        name: "acme".into(),
        repo: "https://git.example.com/acme.git".into(),
        odoo: "17.0".into(),
        production_branch: "main".into(),
        odoo_sources: vec![OdooSource {
            kind: SourceKind::Enterprise,
            url: "https://***@git.example.com/enterprise.git".into(),
            rev: None,
        }],
        odoo_follow: Some(OdooFollow::Daily),
        limits: ProjectLimits {
            development_memory_mib: Some(2048),
            egress_allow: vec!["203.0.113.7:443".parse().unwrap()],
            ..ProjectLimits::default()
        },
    };
    wire(
        &project,
        json!({"name": "acme", "repo": "https://git.example.com/acme.git", "odoo": "17.0",
               "production_branch": "main", "odoo_follow": "daily",
               "odoo_sources": [{"kind": "enterprise",
                                 "url": "https://***@git.example.com/enterprise.git",
                                 "rev": null}],
               "development_memory_mib": 2048, "egress_allow": ["203.0.113.7:443"]}),
    );
}

#[test]
fn a_new_project_needs_four_fields_and_refuses_unknown_ones() {
    let minimal = json!({"name": "acme", "repo": "/srv/acme.git", "odoo": "14.0",
                         "production_branch": "main"});
    let project: NewProject = serde_json::from_value(minimal.clone()).unwrap();
    assert_eq!(project.poll_interval_s, None);
    let with_nulls = json!({"name": "acme", "repo": "/srv/acme.git", "odoo": "14.0",
                            "production_branch": "main", "quiet_period_s": null,
                            "staging_source": "previous"});
    let project: NewProject = serde_json::from_value(with_nulls).unwrap();
    assert_eq!(project.staging_source.as_deref(), Some("previous"));
    let from_source = json!({"name": "acme", "repo": "/srv/acme.git", "odoo": "17.0",
                             "production_branch": "main", "odoo_follow": "never",
                             "odoo_sources": [{"kind": "odoo", "url": "/srv/odoo"},
                                              {"kind": "addons", "url": "/srv/web", "rev": "v2"}]});
    let project: NewProject = serde_json::from_value(from_source).unwrap();
    let sources = project.odoo_sources.unwrap();
    assert_eq!(
        (sources[0].kind, sources[0].rev.as_deref()),
        (SourceKind::Odoo, None)
    );
    assert_eq!(sources[1].rev.as_deref(), Some("v2"));
    let mut unknown = minimal;
    unknown["poll"] = 5.into();
    assert!(serde_json::from_value::<NewProject>(unknown).is_err());
}

#[test]
fn a_new_user_is_no_admin_unless_said() {
    let user: NewUser =
        serde_json::from_value(json!({"login": "ada", "password": "long enough"})).unwrap();
    assert!(!user.admin);
}

#[test]
fn the_small_answers_have_their_documented_fields() {
    wire(
        &ServerStatus {
            version: "0.1.0".into(),
            workers: 1,
            projects: 2,
            caller: "(host)".into(),
            failed_backups: vec![],
        },
        json!({"version": "0.1.0", "workers": 1, "projects": 2, "caller": "(host)"}),
    );
    wire(
        &ServerStatus {
            version: "0.1.0".into(),
            workers: 1,
            projects: 2,
            caller: "(host)".into(),
            failed_backups: vec!["shop #4".into()],
        },
        json!({"version": "0.1.0", "workers": 1, "projects": 2, "caller": "(host)", "failed_backups": ["shop #4"]}),
    );
    wire(
        &Production {
            build: 7,
            commit: "abc".into(),
            status: None,
            url: "http://acme.slipway.test:8800".into(),
        },
        json!({"build": 7, "commit": "abc", "status": null,
               "url": "http://acme.slipway.test:8800"}),
    );
    wire(
        &Promotion {
            production: "next".into(),
            demoted: Some("main".into()),
        },
        json!({"production": "next", "demoted": "main"}),
    );
    wire(
        &BranchOdooRev {
            name: "feature".into(),
            odoo_rev: None,
        },
        json!({"name": "feature", "odoo_rev": null}),
    );
    wire(
        &MailSummary {
            id: 1,
            from: "a@example.com".into(),
            to: vec!["b@example.com".into()],
            subject: "Hello".into(),
            date: None,
        },
        json!({"id": 1, "from": "a@example.com", "to": ["b@example.com"],
               "subject": "Hello", "date": null}),
    );
}

#[test]
fn a_new_project_may_give_its_limits_and_a_name_in_its_allow_list_is_refused() {
    let limited = json!({"name": "acme", "repo": "/srv/acme.git", "odoo": "14.0",
                         "production_branch": "main", "development_memory_mib": 2048,
                         "egress_allow": ["203.0.113.7:443"]});
    let project: NewProject = serde_json::from_value(limited).unwrap();
    assert_eq!(
        project.limits(),
        ProjectLimits {
            development_memory_mib: Some(2048),
            egress_allow: vec!["203.0.113.7:443".parse().unwrap()],
            ..ProjectLimits::default()
        }
    );
    let named = json!({"name": "acme", "repo": "/srv/acme.git", "odoo": "14.0",
                       "production_branch": "main", "egress_allow": ["api.example.com:443"]});
    let Err(error) = serde_json::from_value::<NewProject>(named) else {
        panic!("a name in the allow-list was taken");
    };
    let error = error.to_string();
    assert!(
        error.contains("api.example.com:443") && error.contains("IPv4"),
        "{error}"
    );
}
