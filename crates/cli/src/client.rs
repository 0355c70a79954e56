//! The CLI's side of the JSON API: finds the server (the local one from the data
//! dir, or `--server`/`SLIPWAY_SERVER` with a token) and turns answers into
//! the types of `slipway_api`, or clear errors.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const TIMEOUT: Duration = Duration::from_secs(30);
/// A download with no byte for this long is abandoned (the server prepares a
/// dump before sending its first byte).
const DOWNLOAD_STALL: Duration = Duration::from_secs(30 * 60);

#[derive(clap::Args, Clone, Default)]
pub struct ServerArgs {
    /// Address of a slipway server (default: the local one, found in the data dir).
    #[arg(long, env = "SLIPWAY_SERVER", global = true)]
    pub server: Option<String>,
    /// API token for --server.
    #[arg(long, env = "SLIPWAY_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
}

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// `<data dir>/server.json`, which `slipway serve` writes (mode 0600) for the
/// CLI of the same host: where it answers, and the host's token. (No `Debug`:
/// the token is root on the host.)
#[derive(Serialize, Deserialize)]
pub struct ServerFile {
    pub url: String,
    pub token: String,
}

/// An API error the server explained.
#[derive(Debug)]
pub struct ApiError {
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl Client {
    pub fn connect(args: &ServerArgs) -> Result<Client> {
        let (base, token) = match (&args.server, &args.token) {
            (Some(server), token) => (
                server.trim_end_matches('/').to_string(),
                token.clone().unwrap_or_default(),
            ),
            (None, _) => {
                let layout = slipway_engine::Layout::from_env();
                let path = layout.server_file();
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("no local slipway server found ({} is missing): start one with `slipway serve`, or give --server", path.display())
                })?;
                let file: ServerFile = serde_json::from_str(&text)
                    .with_context(|| format!("{} is damaged", path.display()))?;
                (file.url, file.token)
            }
        };
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        Ok(Client { base, token, agent })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A GET's answer, as `T`.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        parse(self.sent(self.request(&self.agent, "GET", path).call())?)
    }

    /// A POST of `body`, and its answer as `T`.
    pub fn post_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        parse(self.sent(self.request(&self.agent, "POST", path).send_json(body))?)
    }

    /// A POST without a body, and its answer as `T`.
    pub fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        parse(self.sent(self.request(&self.agent, "POST", path).call())?)
    }

    /// A PUT of `body`, and its answer as `T`.
    pub fn put_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        parse(self.sent(self.request(&self.agent, "PUT", path).send_json(body))?)
    }

    /// A PATCH of `body`, and its answer as `T`.
    pub fn patch_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        parse(self.sent(self.request(&self.agent, "PATCH", path).send_json(body))?)
    }

    /// A PUT of `body`; its answer is not needed.
    pub fn put(&self, path: &str, body: &impl Serialize) -> Result<()> {
        self.sent(self.request(&self.agent, "PUT", path).send_json(body))
            .map(drop)
    }

    pub fn delete(&self, path: &str) -> Result<()> {
        self.sent(self.request(&self.agent, "DELETE", path).call())
            .map(drop)
    }

    /// A GET's text, and the `X-Next-Offset` of its answer.
    pub fn get_text(&self, path: &str) -> Result<(String, Option<String>)> {
        let response = self.sent(self.request(&self.agent, "GET", path).call())?;
        let next = response.header("X-Next-Offset").map(str::to_string);
        let text = response
            .into_string()
            .context("reading the server's answer")?;
        Ok((text, next))
    }

    /// The raw body of a GET.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let response = self.sent(self.request(&self.agent, "GET", path).call())?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes)
            .context("reading the server's answer")?;
        Ok(bytes)
    }

    /// Streams a GET's body into `out` (through a temporary file next to it:
    /// an interrupted download leaves nothing). No overall time limit: dumps
    /// of large databases take long; a stalled transfer still times out.
    pub fn download(&self, path: &str, out: &std::path::Path) -> Result<u64> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(TIMEOUT)
            .timeout_read(DOWNLOAD_STALL)
            .build();
        let response = self.sent(self.request(&agent, "GET", path).call())?;
        let dir = out
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let mut temporary = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let bytes = std::io::copy(&mut response.into_reader(), &mut temporary)
            .context("receiving the download")?;
        temporary
            .persist(out)
            .with_context(|| format!("writing {}", out.display()))?;
        Ok(bytes)
    }

    /// POSTs the file at `file` as the request body (streamed), and the
    /// answer as `T`. No overall time limit: uploads of large databases take
    /// long; a stalled transfer still times out.
    pub fn upload<T: DeserializeOwned>(&self, path: &str, file: &std::path::Path) -> Result<T> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(TIMEOUT)
            .timeout_read(DOWNLOAD_STALL)
            .timeout_write(DOWNLOAD_STALL)
            .build();
        let reader =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let length = reader.metadata().map(|m| m.len()).unwrap_or(0);
        let request = self
            .request(&agent, "POST", path)
            .set("Content-Type", "application/zip")
            .set("Content-Length", &length.to_string());
        parse(self.sent(request.send(reader))?)
    }

    /// A request to `path` of the server, with the token.
    fn request(&self, agent: &ureq::Agent, method: &str, path: &str) -> ureq::Request {
        agent
            .request(method, &format!("{}{}", self.base, path))
            .set("Authorization", &format!("Bearer {}", self.token))
    }

    /// A successful answer, or the server's explanation of a failed one.
    fn sent(&self, result: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response> {
        result.map_err(|error| self.explain(error))
    }

    fn explain(&self, error: ureq::Error) -> anyhow::Error {
        match error {
            ureq::Error::Status(status, response) => {
                let text = response.into_string().unwrap_or_default();
                let message = serde_json::from_str::<slipway_api::ErrorBody>(&text)
                    .map(|body| body.error)
                    .unwrap_or_else(|_| format!("the server answered {status}"));
                anyhow::Error::new(ApiError { message })
            }
            ureq::Error::Transport(transport) => {
                anyhow!(
                    "no slipway server answers at {} ({transport}): is `slipway serve` running?",
                    self.base
                )
            }
        }
    }
}

/// An answer as `T`.
fn parse<T: DeserializeOwned>(response: ureq::Response) -> Result<T> {
    let text = response
        .into_string()
        .context("reading the server's answer")?;
    serde_json::from_str(&text).context(
        "the server's answer is not what this slipway expects: is the server the same version?",
    )
}

/// Prints an answer for `--json`.
pub fn print_json(answer: &impl Serialize) {
    println!("{}", json_text(answer));
}

/// An answer's JSON as `--json` prints it: through a JSON value, whose keys
/// are sorted, as `--json` has always printed them.
fn json_text(answer: &impl Serialize) -> String {
    serde_json::to_value(answer)
        .expect("an API answer serializes")
        .to_string()
}

/// Percent-encodes one path segment or query value.
pub fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--json` prints the server's answer read as `T` exactly as it printed
    /// it when it read it as a plain JSON value.
    fn printed_as_before<T: Serialize + DeserializeOwned>(answer: &str) {
        let before = serde_json::from_str::<serde_json::Value>(answer)
            .unwrap()
            .to_string();
        let typed: T = serde_json::from_str(answer).unwrap();
        assert_eq!(json_text(&typed), before);
    }

    #[test]
    fn json_output_is_the_same_as_when_answers_were_untyped() {
        printed_as_before::<Vec<slipway_api::Build>>(
            r#"[{"id":8,"branch":"main","stage":"staging","duplicate":true,"commit":"abc",
                 "state":"running","status":null,"created_at":"2026-11-28T06:33:24Z",
                 "finished_at":null,"url":null},
                {"id":7,"branch":"main","stage":"production","commit":"abc","state":"serving",
                 "status":"success","created_at":"2026-11-28T06:30:00Z",
                 "finished_at":"2026-11-28T06:32:10Z","url":"http://7.slipway.test:8800"}]"#,
        );
        printed_as_before::<Vec<slipway_api::Branch>>(
            r#"[{"name":"main","stage":"production","head":"abc","last_build":
                  {"id":7,"branch":"main","stage":"production","commit":"abc","state":"done",
                   "status":"failed","created_at":"2026-11-28T06:30:00Z",
                   "finished_at":"2026-11-28T06:32:10Z","url":null}},
                {"name":"feature","stage":"development","head":null,"last_build":null}]"#,
        );
        printed_as_before::<slipway_api::Production>(
            r#"{"build":7,"commit":"abc","status":"warning","url":"http://acme.slipway.test"}"#,
        );
        printed_as_before::<Vec<slipway_api::Project>>(
            r#"[{"name":"acme","repo":"https://git.example.com/acme.git","odoo":"14.0",
                 "production_branch":"main"}]"#,
        );
        printed_as_before::<Vec<slipway_api::User>>(
            r#"[{"login":"ada","admin":true,"created_at":"2024-05-01T12:00:00Z",
                 "roles":[{"project":"acme","role":"tester"}]}]"#,
        );
        printed_as_before::<Vec<slipway_api::MailSummary>>(
            r#"[{"id":1,"from":"a@example.com","to":["b@example.com","c@example.com"],
                 "subject":"Hello","date":null}]"#,
        );
    }

    #[test]
    fn values_are_encoded_for_a_path_or_a_query() {
        assert_eq!(encode("feature/x y"), "feature%2Fx%20y");
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
    }
}
