//! The server in-process against a real PostgreSQL: one cluster per test
//! binary, one migrated control database per test, the real router, real
//! sessions and the real live-events hub. Requests go through the router
//! with a small browser model (cookies per host, CSRF tokens read from pages).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use slipway_control::ControlDb;
use slipway_control::{Project, ProjectSettings, Role};
use slipway_server::{Addresses, AppState, ServerParts, SharedState};
use tower::ServiceExt;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";
/// The port the addresses given out name (nothing listens there in these tests).
pub const PORT: u16 = 8800;

pub struct App {
    pub state: SharedState,
    pub router: Router,
    pub control: ControlDb,
    /// The data dir (logs are read from here).
    pub home: tempfile::TempDir,
}

impl App {
    pub async fn new(name: &str) -> App {
        let server = slipway_postgres::test_support::shared().await;
        let database = format!("ui_{name}");
        server
            .cluster
            .create_database(&database, &server.cluster.superuser)
            .await
            .unwrap();
        let mut client = server.cluster.connect(&database).await.unwrap();
        slipway_control::migrate(&mut client).await.unwrap();
        let control = ControlDb::new(server.cluster.clone(), database);
        let home = tempfile::tempdir().unwrap();
        let layout = slipway_engine::Layout::at(home.path());
        let engine = slipway_engine::Engine::new(
            layout.clone(),
            slipway_image::ImageStore::new(&layout.images),
            server.cluster.clone(),
            Box::new(slipway_sandbox::Bubblewrap::locate().expect("bwrap installed")),
            None,
        );
        let (state, _watcher) = AppState::start(ServerParts {
            control: control.clone(),
            engine: Arc::new(engine),
            token: "host-token".into(),
            addresses: Addresses::new("localhost", PORT),
            worker: Some("this-host".into()),
            pg_binaries: server.binaries.clone(),
            proxy_cache: slipway_server::proxy::CacheLife::DEFAULT,
        });
        let router = slipway_server::router(state.clone());
        let app = App {
            state,
            router,
            control,
            home,
        };
        // The hub listens before anything a test does, so it sees it all.
        app.wait_for_listener().await;
        app
    }

    async fn wait_for_listener(&self) {
        let mut events = self.state.live.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    }

    pub async fn sql(&self, statement: &str) {
        let session = self.control.session().await.unwrap();
        session.batch_execute(statement).await.unwrap();
    }

    pub async fn query_i64(&self, statement: &str) -> i64 {
        let session = self.control.session().await.unwrap();
        session.query_one(statement, &[]).await.unwrap().get(0)
    }

    /// A project with branches (name → stage); heads are fake commits.
    pub async fn project(&self, name: &str, branches: &[(&str, &str)]) -> Project {
        let session = self.control.session().await.unwrap();
        let project = slipway_control::add_project(
            &session,
            &slipway_control::NewProject {
                name: name.to_string(),
                repo_url: format!("https://github.com/acme/{name}.git"),
                odoo: "14.0".into(),
                production_branch: "main".into(),
                webhook_secret: "secret".into(),
                settings: ProjectSettings::default(),
            },
        )
        .await
        .unwrap();
        for (branch, stage) in branches {
            session
                .execute(
                    "INSERT INTO branches (project_id, name, stage, head) VALUES ($1, $2, $3, $4)",
                    &[
                        &project.id,
                        branch,
                        stage,
                        &format!("{:0>40}", branch.len()),
                    ],
                )
                .await
                .unwrap();
        }
        project
    }

    /// A build of `branch` in `state` (with `status` when finished); serving
    /// builds answer on `port`.
    pub async fn build(
        &self,
        project: &Project,
        branch: &str,
        state: &str,
        status: Option<&str>,
        port: Option<u16>,
    ) -> i64 {
        let session = self.control.session().await.unwrap();
        let row = session
            .query_one(
                "INSERT INTO builds (project_id, branch_id, commit, stage, state, status, worker, \
                                     lease_until, port, url, database, started_at, finished_at) \
                 SELECT $1, br.id, 'abcdef0123456789abcdef0123456789abcdef01', br.stage, $3, $4, \
                        CASE WHEN $3 IN ('running', 'serving', 'stopped') THEN 'this-host' END, \
                        CASE WHEN $3 = 'running' THEN now() + interval '1 hour' END, \
                        $5::int, CASE WHEN $5::int IS NOT NULL THEN 'http://127.0.0.1:' || $5::int END, \
                        CASE WHEN $3 IN ('serving', 'stopped') THEN 'slipway_b_x' END, \
                        CASE WHEN $3 <> 'pending' THEN now() - interval '2 minutes' END, \
                        CASE WHEN $3 NOT IN ('pending', 'running') THEN now() END \
                   FROM branches br WHERE br.project_id = $1 AND br.name = $2 \
                 RETURNING id",
                &[
                    &project.id,
                    &branch,
                    &state,
                    &status,
                    &port.map(i32::from),
                ],
            )
            .await
            .unwrap();
        row.get(0)
    }

    /// An account with roles; `admin`: an administrator of slipway.
    pub async fn user(&self, login: &str, admin: bool, roles: &[(&str, Role)]) {
        let hash = slipway_access::hash_password(PASSWORD).unwrap();
        let session = self.control.session().await.unwrap();
        slipway_control::add_user(&session, login, &hash, admin)
            .await
            .unwrap();
        for (project, role) in roles {
            slipway_control::set_role(&session, project, login, Some(*role))
                .await
                .unwrap();
        }
    }

    /// A new API token of the account `login`.
    pub async fn api_token(&self, login: &str) -> String {
        let token = format!("slw_test_{login}");
        let session = self.control.session().await.unwrap();
        let user = slipway_control::get_user(&session, login).await.unwrap();
        slipway_control::create_api_token(
            &session,
            user.id,
            "t",
            &slipway_control::SecretHash::of(&token),
        )
        .await
        .unwrap();
        token
    }

    /// A browser, signed in as `login`.
    pub async fn signed_in(&self, login: &str) -> Browser<'_> {
        let mut browser = Browser::new(self);
        browser.login(login, PASSWORD).await;
        browser
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
            .await
            .expect("the body arrives")
            .unwrap()
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// `path`'s server-sent events as `browser` receives them.
    pub async fn events(&self, browser: &Browser<'_>, path: &str) -> EventStream {
        let request = browser
            .request(Method::GET, path)
            .header(header::ACCEPT, "text/event-stream")
            .body(Body::empty())
            .unwrap();
        self.open_stream(request).await
    }

    /// A request whose body is a stream (server-sent events), for reading
    /// its events as they come.
    pub async fn open_stream(&self, request: Request<Body>) -> EventStream {
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        EventStream {
            body: response.into_body(),
            buffer: String::new(),
        }
    }
}

/// An API call with the host's token and a JSON body: its status and body.
pub async fn api(
    app: &App,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, String) {
    api_as(app, "host-token", method, path, body).await
}

/// An API call with `token` and a JSON body: its status and body.
pub async fn api_as(
    app: &App,
    token: &str,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, String) {
    let answer = app
        .send(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, format!("127.0.0.1:{PORT}"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    (answer.status, answer.body)
}

/// `git args` in `dir`, as a test author: its output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A repository with `main` and `feature`, each one commit; their heads.
pub fn repository(dir: &Path) -> (String, String) {
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README"), "shop\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "first"]);
    let main = git(dir, &["rev-parse", "HEAD"]);
    git(dir, &["checkout", "-qb", "feature"]);
    std::fs::write(dir.join("README"), "shop, with a feature\n").unwrap();
    git(dir, &["commit", "-qam", "feature"]);
    (main, git(dir, &["rev-parse", "HEAD"]))
}

/// A finished response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The body with HTML's character references read back, for looking
    /// for words that hold quotes.
    pub fn text(&self) -> String {
        self.body
            .replace("&#39;", "'")
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#60;", "<")
            .replace("&lt;", "<")
            .replace("&#62;", ">")
            .replace("&gt;", ">")
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    }

    /// Every `Set-Cookie` of the answer.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first `name="csrf"` input of the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("the page has a form") + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

/// Server-sent events read from a streaming body.
pub struct EventStream {
    body: Body,
    buffer: String,
}

impl EventStream {
    /// The next event `(name, data)`, comments skipped; `None` after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_string();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_string();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_string());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some((name, data.join("\n")));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }

    /// The next event called `name`, skipping others.
    pub async fn next_named(&mut self, name: &str, limit: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (event, data) = self.next(left).await?;
            if event == name {
                return Some(data);
            }
        }
    }
}

/// A browser: cookies per host, what it sends and keeps.
pub struct Browser<'a> {
    app: &'a App,
    pub host: String,
    cookies: HashMap<String, BTreeMap<String, String>>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a App) -> Browser<'a> {
        Browser {
            app,
            host: format!("localhost:{PORT}"),
            cookies: HashMap::new(),
        }
    }

    pub fn request(&self, method: Method, url: &str) -> axum::http::request::Builder {
        // `http://host/path` or a path on the current host.
        let (host, path) = match url.strip_prefix("http://") {
            Some(rest) => match rest.split_once('/') {
                Some((host, path)) => (host.to_string(), format!("/{path}")),
                None => (rest.to_string(), "/".to_string()),
            },
            None => (self.host.clone(), url.to_string()),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &host)
            .header(header::ACCEPT, "text/html");
        if let Some(jar) = self.cookies.get(&host) {
            let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if !cookie.is_empty() {
                builder = builder.header(header::COOKIE, cookie.join("; "));
            }
        }
        builder
    }

    fn keep_cookies(&mut self, host: &str, answer: &Answer) {
        for value in answer.headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            assert!(
                !text.to_ascii_lowercase().contains("domain="),
                "cookies are host-only: {text}"
            );
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let jar = self.cookies.entry(host.to_string()).or_default();
            if attributes.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }

    pub fn cookie(&self, host: &str, name: &str) -> Option<String> {
        self.cookies.get(host)?.get(name).cloned()
    }

    pub fn set_cookie(&mut self, host: &str, name: &str, value: &str) {
        self.cookies
            .entry(host.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
    }

    fn host_of(&self, url: &str) -> String {
        url.strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(&self.host)
            .to_string()
    }

    pub async fn get(&mut self, url: &str) -> Answer {
        let host = self.host_of(url);
        let request = self.request(Method::GET, url).body(Body::empty()).unwrap();
        let answer = self.app.send(request).await;
        self.keep_cookies(&host, &answer);
        answer
    }

    /// A form POST (`application/x-www-form-urlencoded`).
    pub async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Answer {
        let host = self.host_of(url);
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", slipway_server::ui::encode_query(v)))
            .collect();
        let request = self
            .request(Method::POST, url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.join("&")))
            .unwrap();
        let answer = self.app.send(request).await;
        self.keep_cookies(&host, &answer);
        answer
    }

    /// Follows redirects (at most 5) from `answer`, as a browser does.
    pub async fn follow(&mut self, mut answer: Answer) -> Answer {
        for _ in 0..5 {
            if !answer.status.is_redirection() {
                return answer;
            }
            let location = answer.location().to_string();
            answer = self.get(&location).await;
        }
        answer
    }

    pub async fn login(&mut self, login: &str, password: &str) -> Answer {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.submit_login(login, password, &csrf, "/").await
    }

    /// Posts the login form as given (the CSRF token may be forged).
    pub async fn submit_login(
        &mut self,
        login: &str,
        password: &str,
        csrf: &str,
        next: &str,
    ) -> Answer {
        self.post(
            "/login",
            &[
                ("login", login),
                ("password", password),
                ("csrf", csrf),
                ("next", next),
            ],
        )
        .await
    }

    /// The session's CSRF token, as every page's forms carry it.
    pub async fn csrf(&mut self) -> String {
        self.get("/account").await.csrf()
    }
}

/// A stand-in for a build's Odoo on a loopback port: answers every request
/// with what it received (path, cookies, slipway headers), so that tests see
/// what the proxy passes on. The real Odoo is behind the end-to-end tests.
pub async fn echo_server() -> u16 {
    use axum::extract::Request as AxumRequest;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().fallback(|request: AxumRequest| async move {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        format!(
            "odoo saw path={} cookie={} token={} connect={}",
            request.uri(),
            header("cookie"),
            header("x-slipway-token"),
            header("x-slipway-connect"),
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}
