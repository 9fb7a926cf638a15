//! A segment's members as an export reads them: keyset pages in profile order, each wanted
//! attribute and identity extracted by the database, so no profile is loaded or parsed whole.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use serde_json::value::RawValue;

use crate::Result;

/// A value an export reads for every member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// An attribute by its dotted path: strings as they are, other JSON values as JSON text.
    Attribute(String),
    /// The lowest value of an identity namespace.
    Identity(String),
}

/// One member with the wanted values, in the order they were asked for.
#[derive(Debug, Clone)]
pub struct Member {
    pub profile_id: i64,
    /// `realized` or `exited`.
    pub status: String,
    /// The profile's last change (when asked for): deduplication keeps the latest.
    pub updated_at: Option<DateTime<Utc>>,
    pub values: Vec<Option<String>>,
}

/// Which membership changes a query reads: with `since`, those who entered or left after it
/// (an incremental export), else the current members; with `until`, only changes up to it (a
/// streaming run's fixed window, so the next run starts exactly where this one ended).
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A prepared member query for one segment: pages are read with [`MemberQuery::page`].
pub struct MemberQuery {
    backend: DbBackend,
    /// The members with their attributes; the keyset and the page size are bound last.
    sql: String,
    values: Vec<Value>,
    with_updated: bool,
    wanted: usize,
    /// SQLite: which value each attribute of a member's attribute array fills.
    attribute_slots: Vec<usize>,
    /// SQLite: the namespaces read by a second query, each with the value slots it fills.
    identities: Vec<(String, Vec<usize>)>,
    /// SQLite: the profile ids of a sparse page, `(sql, values)` before the page's bounds.
    page_ids: (String, Vec<Value>),
}

/// A page as read from the database; [`Decoder::decode`] turns it into members on whichever
/// thread does the work, so the reading thread only reads.
pub enum Page {
    Rows(Vec<Member>),
    /// SQLite: the members as JSON arrays, with the page's first and last profile id and size,
    /// then the identities as JSON arrays once [`MemberQuery::read_identities`] has run.
    Json {
        members: String,
        first: i64,
        last: i64,
        count: usize,
        identities: Option<String>,
    },
}

impl Page {
    /// The last profile id of the page, or `None` for an empty page (the end).
    pub fn last(&self) -> Option<i64> {
        match self {
            Page::Rows(rows) => rows.last().map(|m| m.profile_id),
            Page::Json { last, count, .. } => (*count > 0).then_some(*last),
        }
    }

    /// Members in the page.
    pub fn len(&self) -> usize {
        match self {
            Page::Rows(rows) => rows.len(),
            Page::Json { count, .. } => *count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Turns pages into members: where each attribute and identity goes.
#[derive(Clone)]
pub struct Decoder {
    wanted: usize,
    attribute_slots: Vec<usize>,
    identities: Vec<(String, Vec<usize>)>,
}

/// An attribute path split into keys, or why the database cannot address it.
fn keys_of(path: &str) -> Result<Vec<&str>> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty() || k.contains('"')) {
        return Err(crate::Error::Invalid(format!(
            "{path:?} is not an attribute path"
        )));
    }
    Ok(keys)
}

impl MemberQuery {
    /// Members of `segment_id`: all current members, or with `since` those who entered or left
    /// after it (the incremental export's changes).
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for an attribute path the database cannot address.
    pub fn new(
        backend: DbBackend,
        segment_id: i32,
        window: Window,
        wanted: &[Wanted],
        with_updated: bool,
    ) -> Result<Self> {
        let mut values: Vec<Value> = Vec::new();
        let next = |value: Value, values: &mut Vec<Value>| {
            values.push(value);
            match backend {
                DbBackend::Postgres => format!("${}", values.len()),
                _ => "?".to_owned(),
            }
        };
        let updated = if with_updated { "p.updated_at" } else { "NULL" };
        let mut attribute_slots = Vec::new();
        let mut identities: Vec<(String, Vec<usize>)> = Vec::new();
        let mut columns = Vec::new();
        let mut json_paths = Vec::new();
        for (slot, want) in wanted.iter().enumerate() {
            match (backend, want) {
                (DbBackend::Postgres, Wanted::Attribute(path)) => {
                    let args: Vec<String> = keys_of(path)?
                        .into_iter()
                        .map(|k| next(Value::from(k), &mut values))
                        .collect();
                    columns.push(format!(
                        "jsonb_extract_path_text(p.attributes, {})",
                        args.join(", ")
                    ));
                }
                (DbBackend::Postgres, Wanted::Identity(namespace)) => columns.push(format!(
                    "(SELECT MIN(i.value) FROM profile_identities i \
                     WHERE i.profile_id = m.profile_id AND i.namespace = {})",
                    next(namespace.clone().into(), &mut values)
                )),
                (_, Wanted::Attribute(path)) => {
                    let quoted: Vec<String> =
                        keys_of(path)?.iter().map(|k| format!("\"{k}\"")).collect();
                    json_paths.push(format!("$.{}", quoted.join(".")));
                    attribute_slots.push(slot);
                }
                (_, Wanted::Identity(namespace)) => {
                    match identities.iter_mut().find(|(ns, _)| ns == namespace) {
                        Some((_, slots)) => slots.push(slot),
                        None => identities.push((namespace.clone(), vec![slot])),
                    }
                }
            }
        }
        if backend != DbBackend::Postgres {
            // All attributes in one call: a JSON array of their values.
            let paths: Vec<String> = json_paths
                .into_iter()
                .map(|p| next(p.into(), &mut values))
                .collect();
            columns.push(match paths.len() {
                0 => "json_array()".to_owned(),
                1 => format!("json_array(p.attributes_jsonb -> {})", paths[0]),
                _ => format!("json_extract(p.attributes_jsonb, {})", paths.join(", ")),
            });
        }
        // Which memberships a page holds: the segment's members, or its changes since `since`.
        let membership = |values: &mut Vec<Value>| {
            let segment = next(segment_id.into(), values);
            let up_to = |column: &str, values: &mut Vec<Value>| match window.until {
                Some(until) => format!(" AND {column} <= {}", next(until.into(), values)),
                None => String::new(),
            };
            let status = match window.since {
                None => {
                    let until = up_to("m.qualified_at", values);
                    format!("m.status = 'realized'{until}")
                }
                Some(since) => {
                    let entered = next(since.into(), values);
                    let entered_until = up_to("m.qualified_at", values);
                    let left = next(since.into(), values);
                    let left_until = up_to("m.exited_at", values);
                    format!(
                        "((m.status = 'realized' AND m.qualified_at > {entered}{entered_until}) \
                         OR (m.status = 'exited' AND m.exited_at > {left}{left_until}))"
                    )
                }
            };
            format!("m.segment_id = {segment} AND {status}")
        };
        let members_of = membership(&mut values);
        let page_ids = {
            let mut ids_values = Vec::new();
            let members_of = membership(&mut ids_values);
            (
                format!(
                    "SELECT m.profile_id FROM segment_memberships m WHERE {members_of} \
                     AND m.profile_id > ? AND m.profile_id <= ?"
                ),
                ids_values,
            )
        };
        let (after, limit) = match backend {
            DbBackend::Postgres => (
                format!("${}", values.len() + 1),
                format!("${}", values.len() + 2),
            ),
            _ => ("?".to_owned(), "?".to_owned()),
        };
        let from = format!(
            "FROM segment_memberships m JOIN profiles p ON p.id = m.profile_id \
             WHERE {members_of} AND m.profile_id > {after} \
             ORDER BY m.profile_id LIMIT {limit}"
        );
        let sql = if backend == DbBackend::Postgres {
            format!(
                "SELECT m.profile_id, m.status, {updated}{}{} {from}",
                if columns.is_empty() { "" } else { ", " },
                columns.join(", ")
            )
        } else {
            // One JSON text per page instead of one row per member: SQLite hands rows over
            // from its own thread one at a time, which costs more than reading them.
            format!(
                "SELECT group_concat(r, ','), min(pid), max(pid), count(*) FROM \
                 (SELECT m.profile_id AS pid, json_array(m.profile_id, m.status, {updated}, {}) \
                 AS r {from})",
                columns.join(", ")
            )
        };
        Ok(Self {
            backend,
            sql,
            values,
            with_updated,
            wanted: wanted.len(),
            attribute_slots,
            identities,
            page_ids,
        })
    }

    /// What turns this query's pages into members.
    pub fn decoder(&self) -> Decoder {
        Decoder {
            wanted: self.wanted,
            attribute_slots: self.attribute_slots.clone(),
            identities: self.identities.clone(),
        }
    }

    /// Up to `limit` members with a profile id above `after`, in profile order.
    ///
    /// # Errors
    /// [`crate::Error::Database`], or [`crate::Error::Corrupt`] for a page that cannot be read.
    pub async fn page(
        &self,
        db: &DatabaseConnection,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Member>> {
        let mut page = self.read(db, after, limit).await?;
        self.read_identities(db, &mut page, after).await?;
        self.decoder().decode(page)
    }

    /// Reads a page; on SQLite without the identities yet: [`MemberQuery::read_identities`]
    /// adds them, and can run while the next page is read.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn read(&self, db: &DatabaseConnection, after: i64, limit: u64) -> Result<Page> {
        let mut values = self.values.clone();
        values.push(after.into());
        values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        let statement = Statement::from_sql_and_values(self.backend, &self.sql, values);
        if self.backend != DbBackend::Postgres {
            let rows = db.query_all_raw(statement).await?;
            let Some(row) = rows.first() else {
                return Ok(Page::Rows(Vec::new()));
            };
            let count: i64 = row.try_get_by_index(3)?;
            if count == 0 {
                return Ok(Page::Rows(Vec::new()));
            }
            return Ok(Page::Json {
                members: row.try_get_by_index(0)?,
                first: row.try_get_by_index(1)?,
                last: row.try_get_by_index(2)?,
                count: usize::try_from(count).unwrap_or(0),
                identities: None,
            });
        }
        let rows = db
            .query_all_raw(statement)
            .await?
            .into_iter()
            .map(|row| {
                let mut member = Member {
                    profile_id: row.try_get_by_index(0)?,
                    status: row.try_get_by_index(1)?,
                    updated_at: if self.with_updated {
                        Some(row.try_get_by_index(2)?)
                    } else {
                        None
                    },
                    values: Vec::with_capacity(self.wanted),
                };
                for i in 0..self.wanted {
                    member.values.push(row.try_get_by_index(i + 3)?);
                }
                Ok(member)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::Rows(rows))
    }

    /// SQLite: the page's identities in one query, walking the (profile, namespace, value)
    /// index over the page's id range when the page is dense, or over its members' ids when
    /// not. `after` is the keyset the page was read with. (PostgreSQL reads them with the
    /// members.)
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn read_identities(
        &self,
        db: &DatabaseConnection,
        page: &mut Page,
        after: i64,
    ) -> Result<()> {
        let Page::Json {
            first,
            last,
            count,
            identities,
            ..
        } = page
        else {
            return Ok(());
        };
        if self.identities.is_empty() {
            return Ok(());
        }
        let dense = usize::try_from(*last - *first + 1).unwrap_or(usize::MAX) <= 2 * *count;
        let (filter, mut values) = if dense {
            (
                "profile_id >= ? AND profile_id <= ?".to_owned(),
                vec![Value::from(*first), Value::from(*last)],
            )
        } else {
            let (ids, ids_values) = &self.page_ids;
            let mut values = ids_values.clone();
            values.push(after.into());
            values.push((*last).into());
            (format!("profile_id IN ({ids})"), values)
        };
        let marks = vec!["?"; self.identities.len()].join(", ");
        values.extend(
            self.identities
                .iter()
                .map(|(ns, _)| Value::from(ns.clone())),
        );
        let sql = format!(
            "SELECT group_concat(json_array(profile_id, namespace, value), ',') \
             FROM profile_identities INDEXED BY idx_profile_identities_values \
             WHERE {filter} AND namespace IN ({marks})"
        );
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(self.backend, sql, values))
            .await?;
        *identities = match rows.first() {
            Some(row) => row.try_get_by_index(0)?,
            None => None,
        };
        Ok(())
    }
}

impl Decoder {
    /// The page's members in profile order, with their attributes and identities.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] for a page that cannot be read.
    pub fn decode(&self, page: Page) -> Result<Vec<Member>> {
        let (members, identities) = match page {
            Page::Rows(rows) => return Ok(rows),
            Page::Json {
                members,
                identities,
                ..
            } => (members, identities),
        };
        let corrupt = |e: serde_json::Error| crate::Error::Corrupt(format!("a member page: {e}"));
        let array = format!("[{members}]");
        let rows: Vec<(i64, String, Option<String>, Vec<&RawValue>)> =
            serde_json::from_str(&array).map_err(corrupt)?;
        let mut members: Vec<Member> = rows
            .into_iter()
            .map(|(profile_id, status, updated, attributes)| {
                let mut values = vec![None; self.wanted];
                for (slot, raw) in self.attribute_slots.iter().zip(attributes) {
                    values[*slot] = json_as_export_text(raw.get());
                }
                Member {
                    profile_id,
                    status,
                    updated_at: updated.and_then(|t| {
                        DateTime::parse_from_rfc3339(&t)
                            .ok()
                            .map(|t| t.with_timezone(&Utc))
                    }),
                    values,
                }
            })
            .collect();
        // group_concat promises no order; the keyset needs it.
        members.sort_unstable_by_key(|m| m.profile_id);
        if let Some(identities) = identities {
            self.fill_identities(&mut members, &identities)?;
        }
        Ok(members)
    }

    fn fill_identities(&self, members: &mut [Member], text: &str) -> Result<()> {
        let array = format!("[{text}]");
        let mut found: Vec<(i64, String, String)> = serde_json::from_str(&array)
            .map_err(|e| crate::Error::Corrupt(format!("an identity page: {e}")))?;
        found.sort_unstable();
        let position: HashMap<i64, usize> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.profile_id, i))
            .collect();
        // Sorted, so the first value of a (profile, namespace) is its lowest.
        let mut previous: Option<(i64, String)> = None;
        for (profile_id, namespace, value) in found {
            if previous
                .as_ref()
                .is_some_and(|(id, ns)| *id == profile_id && *ns == namespace)
            {
                continue;
            }
            let (Some(i), Some((_, slots))) = (
                position.get(&profile_id),
                self.identities.iter().find(|(ns, _)| *ns == namespace),
            ) else {
                previous = Some((profile_id, namespace));
                continue;
            };
            for slot in slots {
                members[*i].values[*slot] = Some(value.clone());
            }
            previous = Some((profile_id, namespace));
        }
        Ok(())
    }
}

/// A JSON value as a file holds it: a string unquoted, null absent, the rest as JSON text.
fn json_as_export_text(json: &str) -> Option<String> {
    if json.starts_with('"') {
        serde_json::from_str::<String>(json).ok()
    } else if json == "null" {
        None
    } else {
        Some(json.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_become_what_a_file_holds() {
        assert_eq!(
            json_as_export_text(r#""Zoë \"Z\"""#).as_deref(),
            Some(r#"Zoë "Z""#)
        );
        assert_eq!(json_as_export_text("null"), None);
        assert_eq!(json_as_export_text("12.50").as_deref(), Some("12.50"));
        assert_eq!(json_as_export_text("true").as_deref(), Some("true"));
        assert_eq!(
            json_as_export_text(r#"{"k":1}"#).as_deref(),
            Some(r#"{"k":1}"#)
        );
    }

    #[test]
    fn a_path_the_database_cannot_address_is_refused() {
        for path in ["a..b", "", "a.\"b"] {
            for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
                assert!(
                    MemberQuery::new(
                        backend,
                        1,
                        Window::default(),
                        &[Wanted::Attribute(path.into())],
                        false
                    )
                    .is_err(),
                    "{path:?}"
                );
            }
        }
    }
}
