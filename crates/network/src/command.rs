//! Running `ip` and `nft`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::NetworkError;

/// Where the tools are looked for besides `PATH` (root's sbin is not always on it).
const SBIN: [&str; 2] = ["/usr/sbin", "/sbin"];

/// The path of `program`, or the error saying which package has it.
pub(crate) fn locate(
    program: &'static str,
    package: &'static str,
) -> Result<std::path::PathBuf, NetworkError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.map(std::path::PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or(NetworkError::ToolMissing { program, package })
}

/// Runs `program args`, feeding `input` on its standard input; its standard
/// output when it succeeds.
pub(crate) fn run(
    program: &std::path::Path,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, NetworkError> {
    let shown = || {
        let name = program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name} {}", args.join(" "))
    };
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetworkError::Io {
            action: format!("running {}", shown()),
            source,
        })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|source| NetworkError::Io {
                action: format!("writing to {}", shown()),
                source,
            })?;
    }
    let output = child
        .wait_with_output()
        .map_err(|source| NetworkError::Io {
            action: format!("running {}", shown()),
            source,
        })?;
    if !output.status.success() {
        return Err(NetworkError::Refused {
            command: shown(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_which_package_has_it_and_the_way_around_it() {
        let error = locate("slipway-no-such-tool", "slipway-package").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`slipway-no-such-tool` not found")
                && message.contains("apt-get install slipway-package")
                && message.contains("--unconfined"),
            "{message}"
        );
    }
}
