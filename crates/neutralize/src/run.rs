//! One neutralization in progress, inside its transaction: runs the steps of
//! [`STEPS`] in order and logs what each did.

use std::collections::HashSet;
use std::io::Write;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::steps::{Change, Entry, Rule, STEPS};
use crate::{NeutralizeError, Step};

/// The columns of a table that exists.
pub(crate) struct Columns(HashSet<String>);

impl Columns {
    pub(crate) fn has(&self, column: &str) -> bool {
        self.0.contains(column)
    }
}

pub(crate) struct Run<'a> {
    pub client: &'a Client,
    pub database: &'a str,
    pub log: &'a mut (dyn Write + Send + Sync),
    pub steps: Vec<Step>,
}

impl Run<'_> {
    pub(crate) async fn all(&mut self) -> Result<(), NeutralizeError> {
        for entry in STEPS {
            match entry {
                Entry::Rule(rule) => self.apply(rule).await?,
                Entry::Code(step) => self.coded(*step).await?,
            }
        }
        Ok(())
    }

    async fn apply(&mut self, rule: &Rule) -> Result<(), NeutralizeError> {
        let step = rule.table;
        let Some(columns) = self.table(step, step, rule.needs).await? else {
            return Ok(());
        };
        let sql = |statement: &str| statement.replace("{table}", step);
        let rows = match rule.change {
            Change::Statement(statement, params) => {
                let params: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|param| param as &(dyn ToSql + Sync))
                    .collect();
                self.execute(step, &sql(statement), &params).await?
            }
            Change::EachColumn(statements, absent) => {
                let present: Vec<&str> = statements
                    .iter()
                    .filter(|(column, _)| columns.has(column))
                    .map(|(_, statement)| *statement)
                    .collect();
                if present.is_empty() {
                    return self.skip(step, absent.to_string());
                }
                let mut rows = 0;
                for statement in present {
                    rows += self.execute(step, &sql(statement), &[]).await?;
                }
                rows
            }
            Change::Assign(values, absent) => {
                let Some((set, differs)) = assignments(&columns, values) else {
                    return self.skip(step, absent.to_string());
                };
                self.execute(
                    step,
                    &format!("UPDATE {step} SET {set} WHERE {differs}"),
                    &[],
                )
                .await?
            }
        };
        let (one, many) = rule.noun;
        let detail = match rows {
            0 => rule.unchanged,
            _ => rule.changed,
        }
        .replace("{count}", &count(rows, one, many))
        .replace("{one}", one)
        .replace("{many}", many);
        self.record(step, rows, detail)
    }

    /// The columns of `table`, or `None` when there is no such table.
    pub(crate) async fn columns(
        &self,
        step: &'static str,
        table: &str,
    ) -> Result<Option<Columns>, NeutralizeError> {
        let rows = self
            .query(
                step,
                "SELECT c.relkind::text, a.attname::text \
                   FROM pg_class c \
                   LEFT JOIN pg_attribute a \
                          ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                  WHERE c.oid = to_regclass(quote_ident($1)) AND c.relkind IN ('r', 'p')",
                &[&table],
            )
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Columns(
            rows.iter()
                .filter_map(|row| row.get::<_, Option<String>>(1))
                .collect(),
        )))
    }

    /// The columns of `table` if it exists with every column of `needed`;
    /// otherwise records the step as skipped and returns `None`.
    pub(crate) async fn table(
        &mut self,
        step: &'static str,
        table: &str,
        needed: &[&str],
    ) -> Result<Option<Columns>, NeutralizeError> {
        let Some(columns) = self.columns(step, table).await? else {
            let detail = if step == table {
                "table absent, skipped".to_string()
            } else {
                format!("table {table} absent, skipped")
            };
            self.skip(step, detail)?;
            return Ok(None);
        };
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|column| !columns.has(column))
            .collect();
        if !missing.is_empty() {
            let noun = if missing.len() == 1 {
                "column"
            } else {
                "columns"
            };
            self.skip(
                step,
                format!("{noun} {} absent, skipped", missing.join(", ")),
            )?;
            return Ok(None);
        }
        Ok(Some(columns))
    }

    pub(crate) async fn execute(
        &self,
        step: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, NeutralizeError> {
        self.client
            .execute(sql, params)
            .await
            .map_err(|source| NeutralizeError::step(self.database, step, source))
    }

    pub(crate) async fn query(
        &self,
        step: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, NeutralizeError> {
        self.client
            .query(sql, params)
            .await
            .map_err(|source| NeutralizeError::step(self.database, step, source))
    }

    pub(crate) fn record(
        &mut self,
        name: &'static str,
        rows: u64,
        detail: String,
    ) -> Result<(), NeutralizeError> {
        self.push(Step {
            name,
            detail,
            rows,
            skipped: false,
        })
    }

    fn skip(&mut self, name: &'static str, detail: String) -> Result<(), NeutralizeError> {
        self.push(Step {
            name,
            detail,
            rows: 0,
            skipped: true,
        })
    }

    fn push(&mut self, step: Step) -> Result<(), NeutralizeError> {
        tracing::debug!(
            database = self.database,
            step = step.name,
            rows = step.rows,
            "{}",
            step.detail
        );
        writeln!(self.log, "{step}").map_err(NeutralizeError::Log)?;
        self.steps.push(step);
        Ok(())
    }
}

/// `SET` and `WHERE` clauses for the pairs of `sets` whose column exists: the
/// rows where one of those columns differs from its value get them all. `None`
/// when no column exists. Column names and values are constants of this crate.
fn assignments(columns: &Columns, sets: &[(&str, &str)]) -> Option<(String, String)> {
    let present: Vec<&(&str, &str)> = sets
        .iter()
        .filter(|(column, _)| columns.has(column))
        .collect();
    if present.is_empty() {
        return None;
    }
    let set = present
        .iter()
        .map(|(column, value)| format!("{column} = {value}"))
        .collect::<Vec<_>>()
        .join(", ");
    let differs = present
        .iter()
        .map(|(column, value)| format!("{column} IS DISTINCT FROM {value}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    Some((set, differs))
}

/// `rows` with the noun that fits: "1 email", "2 emails".
pub(crate) fn count(rows: u64, one: &str, many: &str) -> String {
    if rows == 1 {
        format!("1 {one}")
    } else {
        format!("{rows} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_use_only_the_columns_present() {
        let columns = Columns(
            ["client_id", "auto_sync"]
                .iter()
                .map(|c| c.to_string())
                .collect(),
        );
        let (set, differs) = assignments(
            &columns,
            &[
                ("client_id", "'duplicate'"),
                ("provider_data", "''"),
                ("auto_sync", "false"),
            ],
        )
        .unwrap();
        assert_eq!(set, "client_id = 'duplicate', auto_sync = false");
        assert_eq!(
            differs,
            "client_id IS DISTINCT FROM 'duplicate' OR auto_sync IS DISTINCT FROM false"
        );
        assert!(assignments(&columns, &[("provider_data", "''")]).is_none());
    }
}
