//! `manifest.json`, as `dump_db_manifest` in Odoo's `odoo/service/db.py` writes it
//! (identical in 14.0 and 19.0), read from the database rather than from a
//! running Odoo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error::sql_message;
use crate::DumpError;

/// The manifest of an Odoo zip dump. Odoo's own restore does not read it (it
/// extracts `dump.sql` and `filestore/` only); people and upgrade tools do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"1"`.
    pub odoo_dump: String,
    pub db_name: String,
    /// `odoo.release.version`: `"14.0"`, `"saas~17.2"` (a final release is
    /// assumed: the database does not say whether the server was an rc).
    pub version: String,
    /// `odoo.release.version_info`: `[14, 0, 0, "final", 0, ""]`.
    pub version_info: Vec<Value>,
    /// `odoo.release.major_version`: the series, `"14.0"`.
    pub major_version: String,
    /// `"%d.%d" % divmod(server_version / 100, 100)`: `"15.0"` for PostgreSQL
    /// 15.x, `"9.6"` for 9.6.x.
    pub pg_version: String,
    /// Installed modules and their `latest_version` (null when unknown).
    pub modules: BTreeMap<String, Option<String>>,
}

impl Manifest {
    /// Built from what the database holds.
    pub fn new(
        db_name: &str,
        base_version: &str,
        server_version_num: u32,
        modules: BTreeMap<String, Option<String>>,
    ) -> Manifest {
        // As Odoo's `list_db_incompatible` reads the series off base's version:
        // '.'.join(base_version.split('.')[:2]).
        let series: Vec<&str> = base_version.split('.').take(2).collect();
        let major_version = series.join(".");
        let number_or_text = |part: Option<&&str>| match part {
            Some(part) => match part.parse::<u64>() {
                Ok(number) => Value::from(number),
                Err(_) => Value::from(*part),
            },
            None => Value::from(0),
        };
        let version_info = vec![
            number_or_text(series.first()),
            number_or_text(series.get(1)),
            Value::from(0),
            Value::from("final"),
            Value::from(0),
            Value::from(""),
        ];
        Manifest {
            odoo_dump: "1".to_string(),
            db_name: db_name.to_string(),
            version: major_version.clone(),
            version_info,
            major_version,
            pg_version: format!(
                "{}.{}",
                server_version_num / 10000,
                server_version_num / 100 % 100
            ),
            modules,
        }
    }

    /// As Odoo writes it: `json.dump(manifest, fh, indent=4)`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.serialize(&mut serializer)
            .expect("a manifest serializes to JSON");
        out
    }
}

pub(crate) async fn read(client: &Client, database: &str) -> Result<Manifest, DumpError> {
    let failed = |error: tokio_postgres::Error| {
        if error.code() == Some(&SqlState::UNDEFINED_TABLE) {
            DumpError::NotOdoo {
                database: database.to_string(),
                reason: "it has no ir_module_module table".to_string(),
            }
        } else {
            DumpError::Manifest {
                database: database.to_string(),
                reason: sql_message(&error),
            }
        }
    };
    let text = |error: tokio_postgres::Error| DumpError::Manifest {
        database: database.to_string(),
        reason: sql_message(&error),
    };
    let server_version: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(failed)?
        .try_get(0)
        .map_err(text)?;
    let server_version_num = server_version.parse().map_err(|_| DumpError::Manifest {
        database: database.to_string(),
        reason: format!("server_version_num '{server_version}' is not a number"),
    })?;
    let base: Option<String> = client
        .query_opt(
            "SELECT latest_version FROM ir_module_module WHERE name = 'base'",
            &[],
        )
        .await
        .map_err(failed)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(text)?
        .flatten();
    let base = base.ok_or_else(|| DumpError::NotOdoo {
        database: database.to_string(),
        reason: "its base module has no version: Odoo was never installed in it".to_string(),
    })?;
    let mut modules = BTreeMap::new();
    for row in client
        .query(
            "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'",
            &[],
        )
        .await
        .map_err(failed)?
    {
        let name: String = row.try_get(0).map_err(text)?;
        let version: Option<String> = row.try_get(1).map_err(text)?;
        modules.insert(name, version);
    }
    Ok(Manifest::new(database, &base, server_version_num, modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_as_odoo_writes_them() {
        let modules = BTreeMap::from([
            ("base".to_string(), Some("14.0.1.3".to_string())),
            ("web".to_string(), None),
        ]);
        let manifest = Manifest::new("prod", "14.0.1.3", 150004, modules.clone());
        assert_eq!(manifest.odoo_dump, "1");
        assert_eq!(manifest.db_name, "prod");
        assert_eq!(manifest.version, "14.0");
        assert_eq!(manifest.major_version, "14.0");
        assert_eq!(
            serde_json::to_string(&manifest.version_info).unwrap(),
            r#"[14,0,0,"final",0,""]"#
        );
        assert_eq!(manifest.pg_version, "15.0");
        assert_eq!(manifest.modules, modules);

        let saas = Manifest::new("x", "saas~17.2.1.0", 90624, BTreeMap::new());
        assert_eq!(saas.major_version, "saas~17.2");
        assert_eq!(saas.version, "saas~17.2");
        assert_eq!(
            serde_json::to_string(&saas.version_info).unwrap(),
            r#"["saas~17",2,0,"final",0,""]"#
        );
        assert_eq!(saas.pg_version, "9.6");
        assert_eq!(
            Manifest::new("x", "19.0.1.3", 170002, BTreeMap::new()).major_version,
            "19.0"
        );
    }

    #[test]
    fn the_json_is_indented_as_pythons_and_keeps_odoos_key_order() {
        let manifest = Manifest::new(
            "prod",
            "19.0.1.3",
            150004,
            BTreeMap::from([("base".to_string(), Some("19.0.1.3".to_string()))]),
        );
        let json = String::from_utf8(manifest.to_json()).unwrap();
        let keys: Vec<usize> = [
            "odoo_dump",
            "db_name",
            "version",
            "version_info",
            "major_version",
            "pg_version",
            "modules",
        ]
        .iter()
        .map(|key| json.find(&format!("\"{key}\":")).unwrap())
        .collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{json}");
        assert!(json.starts_with("{\n    \"odoo_dump\": \"1\",\n"), "{json}");
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
    }
}
