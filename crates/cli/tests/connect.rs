//! "Connect" end to end, on real Odoo 14.0 and 19.0: slipway's addon, loaded
//! server-wide by a served development build's Odoo, opens a new Odoo session
//! for a user of the build for whoever sends the build's secret, and answers
//! like an unknown route to anyone else.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use common::serve::{embedded_cluster, http_status, wait_for, Serve, BUILD_LIMIT};
use slipway_control::BuildAttempt;
use slipway_engine::{Layout, ServedBuild, CONNECT_PATH, CONNECT_SECRET_HEADER};

fn add_project(serve: &Serve, repo: &Path, version: &str) {
    serve.add_project(
        "demo",
        repo,
        version,
        &["--poll-interval", "1", "--quiet-period", "0"],
    );
}

/// The serving development build of the project.
fn serving_development_build(serve: &Serve) -> Option<Value> {
    serve
        .builds("demo")
        .into_iter()
        .find(|b| b["stage"] == "development" && b["state"] == "serving")
}

/// The engine's id of build `id`'s served attempt: the directory under
/// `<home>/builds` that holds its served.json.
fn engine_id(home: &Path, id: i64) -> String {
    std::fs::read_dir(home.join("builds"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .find(|name| {
            name.parse::<BuildAttempt>()
                .is_ok_and(|attempt| attempt.build() == id)
                && home.join("builds").join(name).join("served.json").is_file()
        })
        .unwrap_or_else(|| panic!("no served directory of build {id}"))
}

/// One answer of Odoo, whatever its status.
struct Answer {
    status: u16,
    location: Option<String>,
    content_type: String,
    session_cookie: Option<String>,
    body: String,
}

struct Odoo {
    agent: ureq::Agent,
    url: String,
}

impl Odoo {
    fn new(url: &str) -> Odoo {
        Odoo {
            // No redirects followed, no cookie jar: each step shows what Odoo said.
            agent: ureq::AgentBuilder::new()
                .redirects(0)
                .timeout(Duration::from_secs(120))
                .build(),
            url: url.to_string(),
        }
    }

    fn answer(result: Result<ureq::Response, ureq::Error>) -> Answer {
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => panic!("Odoo did not answer: {error}"),
        };
        let session_cookie = response
            .all("set-cookie")
            .into_iter()
            .find_map(|cookie| cookie.strip_prefix("session_id="))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_string());
        Answer {
            status: response.status(),
            location: response.header("location").map(str::to_string),
            content_type: response.content_type().to_string(),
            session_cookie,
            body: response.into_string().unwrap(),
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)], session: Option<&str>) -> Answer {
        let mut request = self.agent.get(&format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        if let Some(session) = session {
            request = request.set("Cookie", &format!("session_id={session}"));
        }
        Odoo::answer(request.call())
    }

    fn connect(&self, query: &str, secret: &str, session: Option<&str>) -> Answer {
        self.get(
            &format!("{CONNECT_PATH}?{query}"),
            &[(CONNECT_SECRET_HEADER, secret)],
            session,
        )
    }

    /// The path a redirect leads to, on this Odoo (14.0's werkzeug makes
    /// `Location` absolute, 19.0's keeps it as given).
    fn local_location(&self, answer: &Answer) -> String {
        let location = answer.location.clone().expect("a Location header");
        location
            .strip_prefix(&self.url)
            .map(str::to_string)
            .unwrap_or(location)
    }

    /// `/web/session/get_session_info` with `session`: its `result`, or the
    /// whole answer when Odoo refused.
    fn session_info(&self, session: &str) -> Result<Value, Value> {
        let response = self
            .agent
            .post(&format!("{}/web/session/get_session_info", self.url))
            .set("Content-Type", "application/json")
            .set("Cookie", &format!("session_id={session}"))
            .send_string(&json!({"jsonrpc": "2.0", "method": "call", "params": {}}).to_string());
        let answer = Odoo::answer(response);
        let body: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|error| panic!("{error}: {}", answer.body));
        match body.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(body),
        }
    }

    /// Connects as `login` and returns the new session, checked to be that user's.
    fn session_of(&self, login: &str, uid: i64, secret: &str, previous: Option<&str>) -> String {
        let answer = self.connect(&format!("login={login}"), secret, previous);
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(self.local_location(&answer), "/web");
        let session = answer.session_cookie.expect("Odoo's session cookie");
        let info = self.session_info(&session).unwrap();
        assert_eq!(info["uid"], uid, "{info}");
        assert_eq!(info["username"], login, "{info}");
        session
    }
}

fn uid_of(serve: &Serve, database: &str, login: &str) -> i64 {
    let cluster = embedded_cluster(&serve.home);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = cluster.connect(database).await.unwrap();
        let row = client
            .query_one("SELECT id FROM res_users WHERE login = $1", &[&login])
            .await
            .unwrap();
        i64::from(row.get::<_, i32>(0))
    })
}

fn connect_opens_a_new_session_of_a_build_s_user_for_the_secret_s_holder_only(version: &str) {
    let temp = tempfile::tempdir().unwrap();
    let repo = common::repository(temp.path(), "passing");
    let home = temp.path().join("home");
    let mut serve = Serve::start(&home, &[]);
    add_project(&serve, &repo, version);
    common::git(&repo, &["checkout", "-qb", "feature"]);
    std::fs::write(repo.join("green_addon/CHANGES"), "work\n").unwrap();
    common::git(&repo, &["add", "-A"]);
    common::git(&repo, &["commit", "-qm", "work"]);
    wait_for("the development build to serve", BUILD_LIMIT, || {
        serving_development_build(&serve).is_some()
    });
    let build = serving_development_build(&serve).unwrap();
    let build_id = build["id"].as_i64().unwrap();
    let engine_id = engine_id(&home, build_id);
    let served = ServedBuild::read(&Layout::at(&home), &engine_id).unwrap();
    let secret = served.connect_secret().unwrap();
    let odoo = Odoo::new(&common::shop::serving_url(&serve, build_id));
    let demo = uid_of(&serve, &served.database, "demo");
    let admin = uid_of(&serve, &served.database, "admin");

    // Without the secret: the answer of a route that does not exist.
    let unknown = odoo.get("/slipway/no-such-route?login=demo", &[], None);
    assert_eq!(unknown.status, 404);
    for answer in [
        odoo.get(&format!("{CONNECT_PATH}?login=demo"), &[], None),
        odoo.connect("login=demo", "not-the-secret", None),
        odoo.connect("login=demo", "", None),
        odoo.connect("login=demo", &secret[..secret.len() - 1], None),
    ] {
        assert_eq!(answer.status, 404, "{}", answer.body);
        assert_eq!(answer.body, unknown.body);
        assert_eq!(answer.content_type, unknown.content_type);
        assert_eq!(answer.session_cookie, None, "no session without the secret");
    }

    // With it: a session of the user, which Odoo's own checks accept.
    let admin_session = odoo.session_of("admin", admin, &secret, None);
    let web = odoo.get("/web", &[], Some(&admin_session));
    assert_eq!(web.status, 200, "the web client, not the login page");

    // A browser that already had a session gets a new one; the old one is gone.
    let demo_session = odoo.session_of("demo", demo, &secret, Some(&admin_session));
    assert_ne!(demo_session, admin_session);
    let refused = odoo.session_info(&admin_session).unwrap_err();
    assert!(refused.get("error").is_some(), "{refused}");
    let web = odoo.get("/web", &[], Some(&demo_session));
    assert_eq!(web.status, 200, "{:?}", web.location);
    assert!(web.body.contains("session_info"), "the web client's page");

    // Unknown logins are refused in plain words.
    let nobody = odoo.connect("login=nobody", &secret, None);
    assert_eq!(nobody.status, 404);
    assert!(nobody.content_type.starts_with("text/plain"));
    assert!(nobody.body.contains("no active user"), "{}", nobody.body);
    assert_eq!(nobody.session_cookie, None);

    // Redirects stay on this Odoo.
    for (redirect, expected) in [
        ("%2Fweb%3Fdebug%3D1", "/web?debug=1"),
        ("%2F%2Fevil.example", "/web"),
        ("%2F%5Cevil.example", "/web"),
        ("https%3A%2F%2Fevil.example%2F", "/web"),
        ("web", "/web"),
    ] {
        let answer = odoo.connect(&format!("login=demo&redirect={redirect}"), &secret, None);
        assert_eq!(answer.status, 303, "{redirect}: {}", answer.body);
        assert_eq!(odoo.local_location(&answer), expected, "{redirect}");
        assert!(answer.session_cookie.is_some());
    }

    // A build served before Connect existed gets its secret when slipway
    // serves it again after a restart.
    assert!(serve.stop().success());
    let config = std::fs::read_to_string(&served.config_file).unwrap();
    let without: String = config
        .lines()
        .filter(|line| !line.starts_with("slipway_connect_secret"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&served.config_file, without).unwrap();
    assert!(served.connect_secret().is_err());
    let serve = Serve::start(&home, &[]);
    let mut url = String::new();
    wait_for("the build to serve again", Duration::from_secs(180), || {
        let Some(build) = serving_development_build(&serve) else {
            return false;
        };
        url = common::shop::serving_url(&serve, build_id);
        build["id"] == build_id
            && served.connect_secret().is_ok()
            && http_status(&format!("{url}/web/login")) == Some(200)
    });
    let new_secret = served.connect_secret().unwrap();
    assert_ne!(new_secret, secret);
    let odoo = Odoo::new(&url);
    assert_eq!(odoo.connect("login=demo", &secret, None).status, 404);
    odoo.session_of("demo", demo, &new_secret, None);
}

common::on_both_versions!(
    connect_opens_a_new_session_of_a_build_s_user_for_the_secret_s_holder_only
);
