//! Compiles a checked rule to a SQL condition over `profiles p` for SQLite or PostgreSQL. Every
//! value, JSON path and id is a bound parameter; the SQL text holds only fixed fragments.

use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, Value};

use super::check::{Cond, Operand, Target};
use super::rule::CompareOp;
use crate::profiles::schema::FieldType;

/// A SQL condition with its parameters in order.
#[derive(Debug, Clone)]
pub struct Condition {
    pub sql: String,
    pub values: Vec<Value>,
}

struct Builder {
    backend: DbBackend,
    values: Vec<Value>,
    /// Parameters already bound before this condition (PostgreSQL numbers them).
    offset: usize,
}

impl Builder {
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.offset + self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn is_pg(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    fn falsy(&self) -> &'static str {
        if self.is_pg() { "FALSE" } else { "0" }
    }

    fn cond(&mut self, cond: &Cond, now: DateTime<Utc>) -> String {
        match cond {
            Cond::And(items) | Cond::Or(items) => {
                let joiner = if matches!(cond, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = items.iter().map(|c| self.cond(c, now)).collect();
                format!("({})", parts.join(joiner))
            }
            Cond::Not(inner) => format!("(NOT {})", self.cond(inner, now)),
            Cond::InSegment { segment_id } => {
                let id = self.bind(*segment_id);
                format!(
                    "EXISTS (SELECT 1 FROM segment_memberships m WHERE m.profile_id = p.id AND m.segment_id = {id} AND m.status = 'realized')"
                )
            }
            leaf => {
                let sql = self.leaf(leaf, now);
                // A test on a missing value is false rather than unknown, so `not` inverts it.
                format!("COALESCE(({sql}), {})", self.falsy())
            }
        }
    }

    fn leaf(&mut self, cond: &Cond, now: DateTime<Utc>) -> String {
        let target = match cond {
            Cond::Compare { target, .. }
            | Cond::In { target, .. }
            | Cond::Exists { target }
            | Cond::Contains { target, .. }
            | Cond::StartsWith { target, .. } => target,
            _ => unreachable!("composites are handled by cond"),
        };
        match target {
            Target::Identity { namespace } => {
                let ns = self.bind(namespace.clone());
                let test = if matches!(cond, Cond::Exists { .. }) {
                    "1 = 1".to_owned()
                } else {
                    let value = if self.is_pg() {
                        "i.value COLLATE \"C\""
                    } else {
                        "i.value"
                    };
                    self.test(cond, value, FieldType::Text, now)
                };
                format!(
                    "EXISTS (SELECT 1 FROM profile_identities i WHERE i.profile_id = p.id AND i.namespace = {ns} AND {test})"
                )
            }
            Target::Attribute { path, field_type } => {
                if matches!(cond, Cond::Exists { .. }) {
                    return if self.is_pg() {
                        let p = self.pg_path(path);
                        format!("jsonb_typeof(p.attributes #> {p}) <> 'null'")
                    } else {
                        let p = self.bind(format!("$.{path}"));
                        format!("json_type(p.attributes_jsonb, {p}) <> 'null'")
                    };
                }
                let value = self.extract(path, *field_type);
                self.test(cond, &value, *field_type, now)
            }
        }
    }

    fn pg_path(&mut self, path: &str) -> String {
        let p = self.bind(format!("{{{}}}", path.replace('.', ",")));
        format!("{p}::text[]")
    }

    /// The SQL expression for an attribute's value, typed for comparison.
    fn extract(&mut self, path: &str, field_type: FieldType) -> String {
        if !self.is_pg() {
            // SQLite reads the JSONB copy: no JSON text to parse per profile.
            let p = self.bind(format!("$.{path}"));
            return format!("json_extract(p.attributes_jsonb, {p})");
        }
        match field_type {
            FieldType::Integer | FieldType::Decimal => {
                let typed = self.pg_path(path);
                let text = self.pg_path(path);
                format!(
                    "(CASE WHEN jsonb_typeof(p.attributes #> {typed}) = 'number' THEN (p.attributes #>> {text})::double precision END)"
                )
            }
            FieldType::Boolean => {
                let p = self.pg_path(path);
                format!("(p.attributes #> {p})")
            }
            _ => {
                let p = self.pg_path(path);
                format!("((p.attributes #>> {p}) COLLATE \"C\")")
            }
        }
    }

    fn operand(&mut self, operand: &Operand, field_type: FieldType, now: DateTime<Utc>) -> String {
        match operand.resolve(now) {
            Operand::Text(s) => self.bind(s),
            Operand::Number(n) => self.bind(n),
            Operand::Bool(b) if self.is_pg() => {
                let p = self.bind(b.to_string());
                format!("{p}::jsonb")
            }
            Operand::Bool(b) => self.bind(i64::from(b)),
            Operand::Relative { .. } => unreachable!("resolved above for {field_type}"),
        }
    }

    fn test(
        &mut self,
        cond: &Cond,
        value: &str,
        field_type: FieldType,
        now: DateTime<Utc>,
    ) -> String {
        match cond {
            Cond::Compare {
                op, value: operand, ..
            } => {
                let rhs = self.operand(operand, field_type, now);
                let op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Ne => "<>",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                };
                format!("{value} {op} {rhs}")
            }
            Cond::In { values, .. } => {
                let list: Vec<String> = values
                    .iter()
                    .map(|v| self.operand(v, field_type, now))
                    .collect();
                format!("{value} IN ({})", list.join(", "))
            }
            Cond::Contains { text, .. } => {
                let t = self.bind(text.clone());
                if self.is_pg() {
                    format!("strpos({value}, {t}) > 0")
                } else {
                    format!("instr({value}, {t}) > 0")
                }
            }
            Cond::StartsWith { text, .. } => {
                if self.is_pg() {
                    let t = self.bind(text.clone());
                    format!("starts_with({value}, {t})")
                } else {
                    // SQLite numbers `?` by position: bind in the order they appear.
                    let n = self.bind(i64::try_from(text.chars().count()).unwrap_or(i64::MAX));
                    let t = self.bind(text.clone());
                    format!("substr({value}, 1, {n}) = {t}")
                }
            }
            Cond::Exists { .. } => "1 = 1".to_owned(),
            _ => unreachable!("composites are handled by cond"),
        }
    }
}

/// Compiles `cond` for `backend`, with `offset` parameters bound before it, at time `now`.
pub fn condition(cond: &Cond, backend: DbBackend, offset: usize, now: DateTime<Utc>) -> Condition {
    let mut builder = Builder {
        backend,
        values: Vec::new(),
        offset,
    };
    let sql = builder.cond(cond, now);
    Condition {
        sql,
        values: builder.values,
    }
}
