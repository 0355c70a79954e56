//! The sandbox of a build's web shell: the served build's own sandbox (its
//! image, code, data and configuration), where `odoo shell` and `psql` reach
//! the build's database as the build's own role, and nothing else.

use slipway_sandbox::{Mount, Network, SandboxSpec};

use crate::odoo::CONFIG_MOUNT;
use crate::serving::ServedBuild;
use crate::{BuildError, Engine};

/// Where the shell's password file for psql is mounted.
const PGPASS_MOUNT: &str = "/run/slipway/pgpass";

impl Engine {
    /// The sandbox a shell on the served build `build_id` (its engine id)
    /// runs in; `label` names it in the prompt. Its network is the build's
    /// own namespace: the database is reached through its socket.
    pub fn terminal_spec(&self, build_id: &str, label: i64) -> Result<SandboxSpec, BuildError> {
        let served = ServedBuild::read(self.layout(), build_id)?;
        let odoo = self.odoo_of(&served)?;
        let host = self.odoo_host(&odoo);
        let text = std::fs::read_to_string(&served.config_file)
            .map_err(BuildError::io("reading", &served.config_file))?;
        let option = |key: &str| {
            crate::config::option(&text, key)
                .map(str::to_string)
                .ok_or_else(|| {
                    BuildError::Host(format!(
                        "{} has no {key}: the build's configuration is damaged; rebuild the branch",
                        served.config_file.display()
                    ))
                })
        };
        let (user, password) = (option("db_user")?, option("db_password")?);
        // psql reads the password from a file only the sandbox can read,
        // never from the environment or a command line.
        let pgpass = self.layout().build(build_id).shell_pgpass();
        crate::host::write_private(
            &pgpass,
            &format!(
                "*:*:{}:{user}:{}\n",
                served.database,
                escape_pgpass(&password)
            ),
            self.account(),
        )?;
        let mut spec = host.spec(
            &served.run(Network::Isolated, Vec::new()),
            Network::Isolated,
        );
        spec.mounts.push(Mount::read_only(&pgpass, PGPASS_MOUNT));
        let (db_host, db_port) = host.database_address();
        spec.env.extend(
            [
                // `odoo shell` (and any odoo command) finds its configuration.
                ("ODOO_RC", CONFIG_MOUNT.to_string()),
                ("PGHOST", db_host),
                ("PGPORT", db_port.to_string()),
                ("PGDATABASE", served.database.clone()),
                ("PGUSER", user),
                ("PGPASSFILE", PGPASS_MOUNT.to_string()),
                ("PS1", format!("build-{label}:\\w\\$ ")),
            ]
            .map(|(key, value)| (key.to_string(), value)),
        );
        Ok(spec)
    }
}

/// `:` and `\` are special in a .pgpass field.
fn escape_pgpass(value: &str) -> String {
    value.replace('\\', "\\\\").replace(':', "\\:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_fields_escape_colons_and_backslashes() {
        assert_eq!(escape_pgpass("a:b\\c"), "a\\:b\\\\c");
        assert_eq!(escape_pgpass("plain"), "plain");
    }
}
