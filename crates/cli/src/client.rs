//! The CLI's side of the JSON API: finds the server (the local one from the data
//! dir, or `--server`/`SLIPWAY_SERVER` with a token) and turns answers into
//! values or clear errors.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

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
                let file: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is damaged", path.display()))?;
                let url = file["url"]
                    .as_str()
                    .ok_or_else(|| anyhow!("{} has no url", path.display()))?;
                let token = file["token"].as_str().unwrap_or_default();
                (url.to_string(), token.to_string())
            }
        };
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        Ok(Client { base, token, agent })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.send(self.agent.get(&self.url(path)), None)
    }

    pub fn get_text(&self, path: &str) -> Result<(String, Option<String>)> {
        let request = self
            .agent
            .get(&self.url(path))
            .set("Authorization", &format!("Bearer {}", self.token));
        match request.call() {
            Ok(response) => {
                let next = response.header("X-Next-Offset").map(str::to_string);
                let text = response
                    .into_string()
                    .context("reading the server's answer")?;
                Ok((text, next))
            }
            Err(error) => Err(self.explain(error)),
        }
    }

    /// The raw body of a GET.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let request = self
            .agent
            .get(&self.url(path))
            .set("Authorization", &format!("Bearer {}", self.token));
        match request.call() {
            Ok(response) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes)
                    .context("reading the server's answer")?;
                Ok(bytes)
            }
            Err(error) => Err(self.explain(error)),
        }
    }

    /// Streams a GET's body into `out` (through a temporary file next to it:
    /// an interrupted download leaves nothing). No overall time limit: dumps
    /// of large databases take long; a stalled transfer still times out.
    pub fn download(&self, path: &str, out: &std::path::Path) -> Result<u64> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(TIMEOUT)
            .timeout_read(DOWNLOAD_STALL)
            .build();
        let request = agent
            .get(&self.url(path))
            .set("Authorization", &format!("Bearer {}", self.token));
        let response = request.call().map_err(|error| self.explain(error))?;
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

    pub fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.send(self.agent.post(&self.url(path)), Some(body))
    }

    pub fn put(&self, path: &str, body: Value) -> Result<Value> {
        self.send(self.agent.put(&self.url(path)), Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.send(self.agent.delete(&self.url(path)), None)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn send(&self, request: ureq::Request, body: Option<Value>) -> Result<Value> {
        let request = request.set("Authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        match result {
            Ok(response) => {
                let text = response
                    .into_string()
                    .context("reading the server's answer")?;
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(&text).context("the server's answer is not JSON")
            }
            Err(error) => Err(self.explain(error)),
        }
    }

    fn explain(&self, error: ureq::Error) -> anyhow::Error {
        match error {
            ureq::Error::Status(status, response) => {
                let text = response.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|value| value["error"].as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("the server answered {status}"));
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
