//! The `odoo.conf` of a build. Credentials go into this file (mode 0600, read by
//! the sandbox only), never onto a command line where `ps` would show them.

use std::path::Path;

use slipway_sandbox::Network;

use crate::host::HostAccount;
use crate::BuildError;

pub struct OdooConfig<'a> {
    pub db_host: &'a str,
    pub db_port: u16,
    pub db_user: &'a str,
    pub db_password: &'a str,
    pub db_name: &'a str,
    pub addons_path: &'a [String],
    pub data_dir: &'a str,
    pub admin_password: &'a str,
    pub http_port: u16,
    pub service: &'a ServiceOptions,
}

/// How a build's Odoo behaves as a service: where its mail goes, whether its
/// scheduled actions run, what network its runs have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// slipway's mail catcher, with this build's own login; `None`: Odoo's
    /// default (production: the customer's own mail servers).
    pub mail: Option<MailRoute>,
    /// Odoo's cron threads (0: scheduled actions never run).
    pub cron_threads: u8,
    /// The network of the build's Odoo runs.
    pub network: Network,
    /// The network pip installs the repository's requirements on (it needs
    /// the package index).
    pub requirements_network: Network,
    /// The control groups every run of the build (and its served Odoo) is put
    /// in, one directory per hierarchy: its memory, CPU and process limits.
    /// Empty: the caller's own.
    pub cgroups: Vec<std::path::PathBuf>,
    /// The memory limit of those groups, in bytes, which Odoo's own memory
    /// limits follow.
    pub memory_limit: Option<u64>,
}

impl Default for ServiceOptions {
    /// `slipway ci`'s: no mail, no crons, no network for Odoo; pip on the
    /// host's network.
    fn default() -> ServiceOptions {
        ServiceOptions {
            mail: None,
            cron_threads: 0,
            network: Network::Isolated,
            requirements_network: Network::Host,
            cgroups: Vec::new(),
            memory_limit: None,
        }
    }
}

/// The mail catcher as a build's Odoo reaches it.
#[derive(Clone, PartialEq, Eq)]
pub struct MailRoute {
    /// The host's address as the build sees it: the loopback on the host's
    /// network, the host's end of the link in the build's own network.
    pub host: String,
    pub port: u16,
    pub login: String,
    pub secret: String,
}

impl std::fmt::Debug for MailRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailRoute")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("login", &self.login)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl OdooConfig<'_> {
    pub fn render(&self) -> String {
        let mut text = String::from("[options]\n");
        let mut set = |key: &str, value: &str| {
            // Values come from slipway, not users; a newline would still forge
            // another key, so refuse to write one.
            debug_assert!(!value.contains('\n'), "{key} holds a newline");
            text.push_str(&format!("{key} = {}\n", value.replace('\n', " ")));
        };
        set("db_host", self.db_host);
        set("db_port", &self.db_port.to_string());
        set("db_user", self.db_user);
        set("db_password", self.db_password);
        // `db_name` without `dbfilter`: Odoo then serves exactly this database
        // without asking PostgreSQL which databases the role owns (it owns no
        // database object once settled for copies, see slipway_postgres).
        set("db_name", self.db_name);
        set("list_db", "False");
        set("addons_path", &self.addons_path.join(","));
        set("data_dir", self.data_dir);
        set("admin_passwd", self.admin_password);
        // 19.0 warns when this is missing; inside the sandbox's own network
        // namespace loopback is all there is anyway.
        set("http_interface", "127.0.0.1");
        set("http_port", &self.http_port.to_string());
        set("workers", "0");
        set("max_cron_threads", &self.service.cron_threads.to_string());
        match &self.service.mail {
            Some(route) => {
                set("smtp_server", &route.host);
                set("smtp_port", &route.port.to_string());
                set("smtp_user", &route.login);
                set("smtp_password", &route.secret);
                set("smtp_ssl", "False");
            }
            // Nothing listens here inside an isolated sandbox: a mail a module
            // sends fails to connect instead of reaching anyone.
            None => {
                set("smtp_server", "127.0.0.1");
                set("smtp_port", "25");
            }
        }
        if let Some(limit) = self.service.memory_limit {
            // The build's control group is the hard limit, on memory in use.
            // Odoo's own (RLIMIT_AS, on address space, which Python reserves
            // far beyond what it uses) would refuse memory well before it,
            // with a MemoryError instead of the limit's reason.
            set("limit_memory_hard", "0");
            // Recycled (cron threads, prefork workers) before the kernel kills.
            set("limit_memory_soft", &(limit / 10 * 9).to_string());
        }
        set("log_level", "info");
        text
    }

    pub fn write(&self, path: &Path, account: Option<HostAccount>) -> Result<(), BuildError> {
        crate::host::write_private(path, &self.render(), account)
    }
}

/// The value of `key` in an `odoo.conf`'s text.
pub(crate) fn option<'a>(config: &'a str, key: &str) -> Option<&'a str> {
    config.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_restricts_odoo_to_its_own_database() {
        let paths = vec![
            "/usr/lib/python3/dist-packages/odoo/addons".to_string(),
            "/mnt/src".to_string(),
        ];
        let config = OdooConfig {
            db_host: "/run/postgresql",
            db_port: 5432,
            db_user: "slipway_b_1",
            db_password: "secret",
            db_name: "slipway_b_1",
            addons_path: &paths,
            data_dir: "/mnt/data",
            admin_password: "admin-secret",
            http_port: 8069,
            service: &ServiceOptions::default(),
        }
        .render();
        assert!(config.starts_with("[options]\n"));
        assert!(config.contains("db_name = slipway_b_1\n"));
        assert!(!config.contains("dbfilter"));
        assert!(config.contains("list_db = False\n"));
        assert!(
            config.contains("addons_path = /usr/lib/python3/dist-packages/odoo/addons,/mnt/src\n")
        );
        assert!(config.contains("max_cron_threads = 0\n"));
        assert!(config.contains("smtp_port = 25\n"));
    }

    /// Build 7's configuration with `service`.
    fn render_for_build_7(service: &ServiceOptions) -> String {
        let paths = vec!["/mnt/src".to_string()];
        OdooConfig {
            db_host: "/run/postgresql",
            db_port: 5432,
            db_user: "slipway_b_7",
            db_password: "secret",
            db_name: "slipway_b_7",
            addons_path: &paths,
            data_dir: "/mnt/data",
            admin_password: "admin-secret",
            http_port: 8069,
            service,
        }
        .render()
    }

    #[test]
    fn odoo_s_memory_limits_follow_the_build_s_control_group() {
        let limited = ServiceOptions {
            memory_limit: Some(1000 << 20),
            ..ServiceOptions::default()
        };
        let config = render_for_build_7(&limited);
        assert!(config.contains("limit_memory_hard = 0\n"), "{config}");
        assert!(config.contains(&format!(
            "limit_memory_soft = {}\n",
            (1000u64 << 20) / 10 * 9
        )));
        // Without a group, Odoo keeps its own defaults.
        assert!(!render_for_build_7(&ServiceOptions::default()).contains("limit_memory"));
    }

    #[test]
    fn a_build_with_a_mail_route_sends_to_the_catcher_with_its_own_login() {
        let service = ServiceOptions {
            mail: Some(MailRoute {
                host: "127.0.0.1".into(),
                port: 2525,
                login: "build-7".into(),
                secret: "s3cret".into(),
            }),
            cron_threads: 1,
            ..ServiceOptions::default()
        };
        let config = render_for_build_7(&service);
        assert!(config.contains("smtp_server = 127.0.0.1\nsmtp_port = 2525\n"));
        assert!(config.contains("smtp_user = build-7\nsmtp_password = s3cret\n"));
        assert!(config.contains("max_cron_threads = 1\n"));
        assert!(!format!("{service:?}").contains("s3cret"));
    }
}
