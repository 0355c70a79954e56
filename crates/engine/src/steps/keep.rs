//! Step: keeping a build. What it takes to serve it again is written next to
//! it ([`ServedBuild`], read by [`Engine::serve`] after any restart), with a
//! script that starts its Odoo by hand (`slipway ci --keep`).

use std::os::unix::fs::PermissionsExt;

use crate::layout::BuildDir;
use crate::odoo_install::OdooInstall;
use crate::report::KeptBuild;
use crate::serving::{ServeAt, ServedBuild};
use crate::steps::database::Database;
use crate::steps::odoo_run::RunFiles;
use crate::{BuildError, Engine};

impl Engine {
    /// Records the build as servable and says how to start it.
    pub(crate) fn keep(
        &self,
        odoo: &OdooInstall,
        dir: &BuildDir,
        files: &RunFiles<'_>,
        database: &Database,
    ) -> Result<KeptBuild, BuildError> {
        let served = ServedBuild {
            database: database.name.clone(),
            image: odoo.runtime.meta.name.clone(),
            sources: odoo.sources.clone(),
            data_dir: database.data.clone(),
            source_dir: dir.source(),
            pydeps_dir: files.pydeps.map(ToOwned::to_owned),
            config_file: files.config.clone(),
        };
        served.write(dir)?;
        let host = self.odoo_host(odoo);
        let network = slipway_sandbox::Network::Host;
        let spec = host.spec(&served.run(network.clone(), Vec::new()), network);
        // Served on the host's loopback: take a port nobody uses right now.
        let http_port = crate::serving::free_port()?;
        let argv = served.argv(odoo.launcher(), ServeAt::Loopback(http_port).address());
        let command = self.sandbox().command_line(&spec, &argv)?;
        let mut script =
            String::from("#!/bin/sh\n# Starts Odoo on a build kept by `slipway ci --keep`.\nexec");
        if let Some(account) = self.account() {
            script.push_str(&format!(
                " setpriv --reuid={} --regid={} --clear-groups",
                account.uid, account.gid
            ));
        }
        for word in command {
            script.push(' ');
            script.push_str(&shell_quote(&word));
        }
        script.push('\n');
        let start_script = dir.start_script();
        std::fs::write(&start_script, script).map_err(BuildError::io("writing", &start_script))?;
        std::fs::set_permissions(&start_script, std::fs::Permissions::from_mode(0o700))
            .map_err(BuildError::io("chmod", &start_script))?;
        Ok(KeptBuild {
            database: served.database,
            data_dir: served.data_dir,
            start_script,
            http_port,
        })
    }
}

fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.=,:@+".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
