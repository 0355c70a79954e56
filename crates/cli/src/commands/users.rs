//! `slipway user add|list|remove|password|role|token`: accounts of the web UI
//! and the API, and their roles per project (Odoo.sh's: admin, developer,
//! tester).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use slipway_api::{AddedUser, CreatedToken, NewPassword, NewToken, NewUser, SetRole, User};

use super::table;
use crate::client::{encode, print_json, Client, ServerArgs};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account; its password is read from the first line of stdin.
    Add {
        login: String,
        /// An administrator of slipway: every project, every action, accounts.
        #[arg(long)]
        admin: bool,
    },
    /// Show the accounts and their roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an account, with its sessions, tokens and roles.
    Remove { login: String },
    /// Set an account's password (first line of stdin); its sessions end.
    Password { login: String },
    /// Give an account a role in a project: admin, developer, tester, or
    /// `none` to take its role away.
    Role {
        login: String,
        project: String,
        role: String,
    },
    /// Make an API token for an account (printed once), for
    /// `slipway --server URL --token TOKEN`.
    Token {
        login: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// The first line of stdin, without its line ending.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password on stdin: pipe one in, e.g. `printf '%s\\n' \"$PASSWORD\" | slipway user add LOGIN`");
    }
    Ok(password)
}

pub fn run(command: UserCommand, server: &ServerArgs) -> Result<ExitCode> {
    let client = Client::connect(server)?;
    match command {
        UserCommand::Add { login, admin } => {
            let password = read_password()?;
            client.post_json::<AddedUser>(
                "/api/v1/users",
                &NewUser {
                    login: login.clone(),
                    password,
                    admin,
                },
            )?;
            println!(
                "user {login} added{}",
                if admin { " (administrator)" } else { "" }
            );
        }
        UserCommand::List { json } => {
            let users: Vec<User> = client.get_json("/api/v1/users")?;
            if json {
                print_json(&users);
            } else {
                let rows: Vec<Vec<String>> = users
                    .into_iter()
                    .map(|user| {
                        let roles: Vec<String> = user
                            .roles
                            .iter()
                            .map(|r| format!("{}: {}", r.project, r.role))
                            .collect();
                        vec![
                            user.login,
                            if user.admin { "yes" } else { "" }.to_string(),
                            roles.join(", "),
                        ]
                    })
                    .collect();
                table::print(&["login", "admin", "roles"], &rows);
            }
        }
        UserCommand::Remove { login } => {
            client.delete(&format!("/api/v1/users/{}", encode(&login)))?;
            println!("user {login} removed");
        }
        UserCommand::Password { login } => {
            let password = read_password()?;
            client.put(
                &format!("/api/v1/users/{}/password", encode(&login)),
                &NewPassword { password },
            )?;
            println!("password of {login} changed; its sessions ended");
        }
        UserCommand::Role {
            login,
            project,
            role,
        } => {
            let path = format!(
                "/api/v1/projects/{}/members/{}",
                encode(&project),
                encode(&login)
            );
            if role == "none" {
                client.delete(&path)?;
                println!("{login} has no role in {project} any more");
            } else {
                client.put(&path, &SetRole { role: role.clone() })?;
                println!("{login} is {role} of {project}");
            }
        }
        UserCommand::Token { login, name } => {
            let created: CreatedToken = client.post_json(
                &format!("/api/v1/users/{}/tokens", encode(&login)),
                &NewToken { name },
            )?;
            // The token alone on stdout, for scripts.
            println!("{}", created.token);
        }
    }
    Ok(ExitCode::SUCCESS)
}
