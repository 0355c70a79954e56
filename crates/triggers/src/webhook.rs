//! Push webhooks from GitHub and GitLab: is a delivery genuine, and which
//! branch moved to which commit.
//!
//! Webhooks tell slipway about a push within seconds, where polling takes up
//! to its period. A webhook endpoint is reachable by anyone, so a delivery is
//! trusted only once its secret checks out: call [`verify_github_signature`]
//! or [`verify_gitlab_token`] first, on the raw body, then parse it.
//!
//! Only what slipway acts on is read from a payload (the ref, the new commit,
//! the repository's URLs); everything else may change shape without breaking
//! it.

use std::fs::File;
use std::io::{self, Read};

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::branch::{validate_branch_name, InvalidBranch};
use crate::is_object_id;

type HmacSha256 = Hmac<Sha256>;

/// The header GitHub signs deliveries in.
pub const GITHUB_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The header GitHub names the event in.
pub const GITHUB_EVENT_HEADER: &str = "X-GitHub-Event";
/// The header GitLab sends the webhook's secret token in.
pub const GITLAB_TOKEN_HEADER: &str = "X-Gitlab-Token";
/// The header GitLab names the event in.
pub const GITLAB_EVENT_HEADER: &str = "X-Gitlab-Event";

/// Why a webhook delivery is refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook secret is empty: anyone could forge deliveries; generate one")]
    EmptySecret,

    #[error("missing {GITHUB_SIGNATURE_HEADER} header: set the webhook's secret on GitHub")]
    MissingSignature,

    #[error("malformed {GITHUB_SIGNATURE_HEADER} header: expected \"sha256=\" and 64 hex digits")]
    MalformedSignature,

    #[error("{GITHUB_SIGNATURE_HEADER} does not match the body: the webhook's secret on GitHub differs from slipway's")]
    WrongSignature,

    #[error("missing {GITLAB_TOKEN_HEADER} header: set the webhook's secret token on GitLab")]
    MissingToken,

    #[error(
        "wrong {GITLAB_TOKEN_HEADER}: the webhook's secret token on GitLab differs from slipway's"
    )]
    WrongToken,

    #[error("missing {0} header: is this a webhook delivery?")]
    MissingEvent(&'static str),

    #[error("malformed webhook payload: {0}")]
    Malformed(String),

    #[error(transparent)]
    InvalidBranch(#[from] InvalidBranch),
}

/// What a genuine delivery asks of slipway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// GitHub checking the endpoint answers, when the webhook is created.
    Ping,
    /// `branch` now points at `commit`: created or moved.
    Push {
        branch: String,
        /// Full commit id: 40 lowercase hex digits (64 in a SHA-256
        /// repository).
        commit: String,
        /// The repository's URLs as the host gives them (https clone, ssh
        /// clone, web page), to match against a project's repository URL.
        repository_urls: Vec<String>,
    },
    /// `branch` was deleted.
    BranchDeleted {
        branch: String,
        /// As in [`WebhookEvent::Push`].
        repository_urls: Vec<String>,
    },
    /// An event slipway does not act on: another event type (named as the
    /// host names it), or a push of something other than a branch (the event
    /// and the ref, e.g. `push to refs/tags/v1.0`).
    Ignored { event: String },
}

/// Checks GitHub's `X-Hub-Signature-256: sha256=<hex>` header: the
/// HMAC-SHA256 of the raw `body` under the webhook's `secret`. The comparison
/// takes the same time wherever the signatures differ, so timing does not
/// reveal how much of a forged signature was right.
pub fn verify_github_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::EmptySecret);
    }
    let header = header.ok_or(WebhookError::MissingSignature)?;
    let signature = header
        .trim()
        .strip_prefix("sha256=")
        .filter(|hex_digits| hex_digits.len() == 64)
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
        .ok_or(WebhookError::MalformedSignature)?;
    let mut mac = hmac_sha256(secret);
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| WebhookError::WrongSignature)
}

/// Checks GitLab's `X-Gitlab-Token` header, which carries the webhook's
/// secret token itself. Both are compared through their HMAC under the
/// secret, so the time taken depends neither on where they differ nor on the
/// length of the token sent.
pub fn verify_gitlab_token(secret: &str, header: Option<&str>) -> Result<(), WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::EmptySecret);
    }
    let token = header.ok_or(WebhookError::MissingToken)?;
    let expected = {
        let mut mac = hmac_sha256(secret.as_bytes());
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes()
    };
    let mut mac = hmac_sha256(secret.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::WrongToken)
}

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// A new webhook secret: 32 random bytes from the kernel, as 64 hex digits,
/// to paste into the host's webhook settings.
pub fn generate_secret() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// What a GitHub delivery (`X-GitHub-Event` header and raw body) asks for.
pub fn parse_github_push(
    event_header: Option<&str>,
    body: &[u8],
) -> Result<WebhookEvent, WebhookError> {
    let event = event_header.ok_or(WebhookError::MissingEvent(GITHUB_EVENT_HEADER))?;
    match event {
        "ping" => Ok(WebhookEvent::Ping),
        "push" => {
            let push: GithubPush = parse_json(body)?;
            let urls = [
                push.repository.clone_url,
                push.repository.ssh_url,
                push.repository.html_url,
            ];
            push_event(event, &push.reference, &push.after, urls)
        }
        other => Ok(WebhookEvent::Ignored {
            event: other.to_string(),
        }),
    }
}

/// What a GitLab delivery (`X-Gitlab-Event` header and raw body) asks for.
/// Tag pushes come as another event (`Tag Push Hook`), and are ignored.
pub fn parse_gitlab_push(
    event_header: Option<&str>,
    body: &[u8],
) -> Result<WebhookEvent, WebhookError> {
    let event = event_header.ok_or(WebhookError::MissingEvent(GITLAB_EVENT_HEADER))?;
    match event {
        "Push Hook" => {
            let push: GitlabPush = parse_json(body)?;
            let urls = [
                push.project.git_http_url,
                push.project.git_ssh_url,
                push.project.web_url,
            ];
            push_event(event, &push.reference, &push.after, urls)
        }
        other => Ok(WebhookEvent::Ignored {
            event: other.to_string(),
        }),
    }
}

/// The part of GitHub's push payload slipway reads.
#[derive(Deserialize)]
struct GithubPush {
    #[serde(rename = "ref")]
    reference: String,
    after: String,
    repository: GithubRepository,
}

#[derive(Deserialize)]
struct GithubRepository {
    clone_url: Option<String>,
    ssh_url: Option<String>,
    html_url: Option<String>,
}

/// The part of GitLab's push payload slipway reads.
#[derive(Deserialize)]
struct GitlabPush {
    #[serde(rename = "ref")]
    reference: String,
    after: String,
    project: GitlabProject,
}

#[derive(Deserialize)]
struct GitlabProject {
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
    web_url: Option<String>,
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, WebhookError> {
    serde_json::from_slice(body).map_err(|error| {
        if body.starts_with(b"payload=") {
            WebhookError::Malformed(
                "the body is form data: set the webhook's content type to application/json"
                    .to_string(),
            )
        } else {
            WebhookError::Malformed(error.to_string())
        }
    })
}

fn push_event(
    event: &str,
    reference: &str,
    after: &str,
    urls: [Option<String>; 3],
) -> Result<WebhookEvent, WebhookError> {
    if !reference.starts_with("refs/") {
        return Err(WebhookError::Malformed(format!(
            "\"ref\" is {reference:?}, not a full ref name"
        )));
    }
    let Some(branch) = reference.strip_prefix("refs/heads/") else {
        return Ok(WebhookEvent::Ignored {
            event: format!("{event} to {reference}"),
        });
    };
    validate_branch_name(branch)?;
    if !is_object_id(after) {
        return Err(WebhookError::Malformed(format!(
            "\"after\" is {after:?}, not a commit id"
        )));
    }
    let mut repository_urls: Vec<String> = Vec::new();
    for url in urls.into_iter().flatten() {
        if !url.is_empty() && !repository_urls.contains(&url) {
            repository_urls.push(url);
        }
    }
    if repository_urls.is_empty() {
        return Err(WebhookError::Malformed(
            "the payload names no repository URL".to_string(),
        ));
    }
    let branch = branch.to_string();
    if after.bytes().all(|digit| digit == b'0') {
        Ok(WebhookEvent::BranchDeleted {
            branch,
            repository_urls,
        })
    } else {
        Ok(WebhookEvent::Push {
            branch,
            commit: after.to_string(),
            repository_urls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::branch::BranchRule;

    const GITHUB_PUSH: &str = include_str!("../fixtures/github-push.json");
    const GITHUB_DELETE: &str = include_str!("../fixtures/github-delete.json");
    const GITHUB_PING: &str = include_str!("../fixtures/github-ping.json");
    const GITLAB_PUSH: &str = include_str!("../fixtures/gitlab-push.json");
    const GITLAB_DELETE: &str = include_str!("../fixtures/gitlab-delete.json");

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = hmac_sha256(secret);
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// A body with one JSON value replaced, to derive variants of a fixture.
    fn with(fixture: &str, pointer: &str, value: serde_json::Value) -> Vec<u8> {
        let mut json: serde_json::Value = serde_json::from_str(fixture).unwrap();
        *json.pointer_mut(pointer).unwrap() = value;
        serde_json::to_vec(&json).unwrap()
    }

    fn without(fixture: &str, parent: &str, key: &str) -> Vec<u8> {
        let mut json: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let object = if parent.is_empty() {
            &mut json
        } else {
            json.pointer_mut(parent).unwrap()
        };
        object.as_object_mut().unwrap().remove(key).unwrap();
        serde_json::to_vec(&json).unwrap()
    }

    fn malformed(result: Result<WebhookEvent, WebhookError>) -> String {
        match result {
            Err(WebhookError::Malformed(reason)) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn github_signature_matches_githubs_documented_example() {
        // From GitHub's "Validating webhook deliveries".
        let secret = b"It's a Secret to Everybody";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        verify_github_signature(secret, b"Hello, World!", Some(header)).unwrap();
        assert!(matches!(
            verify_github_signature(secret, b"Hello, World?", Some(header)),
            Err(WebhookError::WrongSignature)
        ));
    }

    #[test]
    fn github_signature_errors_are_distinct() {
        let secret = b"s3cret";
        let body = GITHUB_PUSH.as_bytes();
        let good = sign(secret, body);
        verify_github_signature(secret, body, Some(&good)).unwrap();

        assert!(matches!(
            verify_github_signature(secret, body, None),
            Err(WebhookError::MissingSignature)
        ));
        let other_secret = sign(b"other", body);
        assert!(matches!(
            verify_github_signature(secret, body, Some(&other_secret)),
            Err(WebhookError::WrongSignature)
        ));
        let tampered = GITHUB_PUSH.replacen("16.0-fix-invoice", "16.0-fix-invoicf", 1);
        assert!(matches!(
            verify_github_signature(secret, tampered.as_bytes(), Some(&good)),
            Err(WebhookError::WrongSignature)
        ));
        let hex_part = &good["sha256=".len()..];
        for bad in [
            String::new(),
            hex_part.to_string(),
            format!("sha1={hex_part}"),
            format!("sha256={}", &hex_part[..63]),
            format!("sha256={hex_part}00"),
            format!("sha256={}z", &hex_part[..63]),
        ] {
            assert!(
                matches!(
                    verify_github_signature(secret, body, Some(&bad)),
                    Err(WebhookError::MalformedSignature)
                ),
                "{bad:?}"
            );
        }
        // Uppercase hex is still the same signature.
        let upper = format!("sha256={}", hex_part.to_uppercase());
        verify_github_signature(secret, body, Some(&upper)).unwrap();
        assert!(matches!(
            verify_github_signature(b"", body, Some(&good)),
            Err(WebhookError::EmptySecret)
        ));
    }

    #[test]
    fn gitlab_token_must_be_the_secret() {
        verify_gitlab_token("tok3n", Some("tok3n")).unwrap();
        for wrong in ["tok3", "tok3n ", "tok3N", "", "tok3ntok3n"] {
            assert!(
                matches!(
                    verify_gitlab_token("tok3n", Some(wrong)),
                    Err(WebhookError::WrongToken)
                ),
                "{wrong:?}"
            );
        }
        assert!(matches!(
            verify_gitlab_token("tok3n", None),
            Err(WebhookError::MissingToken)
        ));
        assert!(matches!(
            verify_gitlab_token("", Some("")),
            Err(WebhookError::EmptySecret)
        ));
    }

    #[test]
    fn github_push_names_branch_commit_and_repository() {
        let event = parse_github_push(Some("push"), GITHUB_PUSH.as_bytes()).unwrap();
        assert_eq!(
            event,
            WebhookEvent::Push {
                branch: "16.0-fix-invoice".into(),
                commit: "2c5a3b6e4e7d0c1f8a9b0d3e5f7a1c2b4d6e8f0a".into(),
                repository_urls: vec![
                    "https://github.com/acme/odoo-addons.git".into(),
                    "git@github.com:acme/odoo-addons.git".into(),
                    "https://github.com/acme/odoo-addons".into(),
                ],
            }
        );
    }

    #[test]
    fn github_branch_deletion() {
        let event = parse_github_push(Some("push"), GITHUB_DELETE.as_bytes()).unwrap();
        assert_eq!(
            event,
            WebhookEvent::BranchDeleted {
                branch: "16.0-fix-invoice".into(),
                repository_urls: vec![
                    "https://github.com/acme/odoo-addons.git".into(),
                    "git@github.com:acme/odoo-addons.git".into(),
                    "https://github.com/acme/odoo-addons".into(),
                ],
            }
        );
    }

    #[test]
    fn github_ping_and_other_events() {
        assert_eq!(
            parse_github_push(Some("ping"), GITHUB_PING.as_bytes()).unwrap(),
            WebhookEvent::Ping
        );
        assert_eq!(
            parse_github_push(Some("pull_request"), b"{}").unwrap(),
            WebhookEvent::Ignored {
                event: "pull_request".into()
            }
        );
        assert!(matches!(
            parse_github_push(None, GITHUB_PUSH.as_bytes()),
            Err(WebhookError::MissingEvent("X-GitHub-Event"))
        ));
    }

    #[test]
    fn github_tag_push_is_ignored() {
        let body = with(GITHUB_PUSH, "/ref", "refs/tags/16.0.1.0.0".into());
        assert_eq!(
            parse_github_push(Some("push"), &body).unwrap(),
            WebhookEvent::Ignored {
                event: "push to refs/tags/16.0.1.0.0".into()
            }
        );
    }

    #[test]
    fn github_push_of_a_refused_branch_name() {
        let body = with(GITHUB_PUSH, "/ref", "refs/heads/fix;reboot".into());
        match parse_github_push(Some("push"), &body) {
            Err(WebhookError::InvalidBranch(error)) => {
                assert_eq!(error.name, "fix;reboot");
                assert_eq!(error.rule, BranchRule::ShellMetacharacter(';'));
            }
            other => panic!("expected InvalidBranch, got {other:?}"),
        }
    }

    #[test]
    fn github_malformed_payloads() {
        let reason = malformed(parse_github_push(Some("push"), b"{\"ref\": "));
        assert!(reason.contains("EOF"), "{reason}");

        let reason = malformed(parse_github_push(
            Some("push"),
            &without(GITHUB_PUSH, "", "after"),
        ));
        assert!(reason.contains("missing field `after`"), "{reason}");

        let reason = malformed(parse_github_push(
            Some("push"),
            &without(GITHUB_PUSH, "", "repository"),
        ));
        assert!(reason.contains("missing field `repository`"), "{reason}");

        let reason = malformed(parse_github_push(
            Some("push"),
            &with(GITHUB_PUSH, "/after", "2c5a3b6e".into()),
        ));
        assert!(reason.contains("\"after\""), "{reason}");

        let reason = malformed(parse_github_push(
            Some("push"),
            &with(GITHUB_PUSH, "/ref", "main".into()),
        ));
        assert!(reason.contains("\"ref\""), "{reason}");

        let mut no_urls = with(GITHUB_PUSH, "/repository/clone_url", "".into());
        no_urls = with(
            std::str::from_utf8(&no_urls).unwrap(),
            "/repository/ssh_url",
            serde_json::Value::Null,
        );
        no_urls = without(
            std::str::from_utf8(&no_urls).unwrap(),
            "/repository",
            "html_url",
        );
        let reason = malformed(parse_github_push(Some("push"), &no_urls));
        assert!(reason.contains("repository URL"), "{reason}");

        let reason = malformed(parse_github_push(
            Some("push"),
            b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D",
        ));
        assert!(reason.contains("application/json"), "{reason}");
    }

    #[test]
    fn gitlab_push_names_branch_commit_and_repository() {
        let event = parse_gitlab_push(Some("Push Hook"), GITLAB_PUSH.as_bytes()).unwrap();
        assert_eq!(
            event,
            WebhookEvent::Push {
                branch: "17.0-mig-sale_stock".into(),
                commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into(),
                repository_urls: vec![
                    "https://gitlab.acme.example/acme/odoo-addons.git".into(),
                    "git@gitlab.acme.example:acme/odoo-addons.git".into(),
                    "https://gitlab.acme.example/acme/odoo-addons".into(),
                ],
            }
        );
    }

    #[test]
    fn gitlab_branch_deletion() {
        let event = parse_gitlab_push(Some("Push Hook"), GITLAB_DELETE.as_bytes()).unwrap();
        assert!(
            matches!(&event, WebhookEvent::BranchDeleted { branch, .. } if branch == "17.0-mig-sale_stock"),
            "{event:?}"
        );
    }

    #[test]
    fn gitlab_other_events() {
        for event in ["Tag Push Hook", "Merge Request Hook", "System Hook"] {
            assert_eq!(
                parse_gitlab_push(Some(event), GITLAB_PUSH.as_bytes()).unwrap(),
                WebhookEvent::Ignored {
                    event: event.into()
                }
            );
        }
        assert!(matches!(
            parse_gitlab_push(None, GITLAB_PUSH.as_bytes()),
            Err(WebhookError::MissingEvent("X-Gitlab-Event"))
        ));
        // A GitHub-shaped body sent as a GitLab push lacks `project`.
        let reason = malformed(parse_gitlab_push(Some("Push Hook"), GITHUB_PUSH.as_bytes()));
        assert!(reason.contains("missing field `project`"), "{reason}");
    }

    #[test]
    fn secrets_are_random_hex() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        verify_gitlab_token(&a, Some(&a)).unwrap();
    }
}
