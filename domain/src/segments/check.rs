//! Checks a parsed rule against the schema catalog and the existing segments, giving a typed
//! condition with every value in its stored form; mistakes are reported at their position.

use std::collections::BTreeMap;

use chrono::{DateTime, Months, Utc};

use super::rule::{CompareOp, Expr, Literal, RuleError, Span, Test, Unit, Value, error_at, parse};
use crate::profiles::schema::{Catalog, FieldType};
use crate::profiles::values;

/// What a predicate looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An attribute at a JSON path, of a type.
    Attribute { path: String, field_type: FieldType },
    /// Any identity value in a namespace (compared as text).
    Identity { namespace: String },
}

impl Target {
    pub fn field_type(&self) -> FieldType {
        match self {
            Target::Attribute { field_type, .. } => *field_type,
            Target::Identity { .. } => FieldType::Text,
        }
    }
}

/// A value to compare with, in the stored form of the target's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    Number(f64),
    Bool(bool),
    /// A moment relative to the evaluation time, resolved by [`Operand::resolve`].
    Relative {
        amount: i64,
        unit: Unit,
        field_type: FieldType,
    },
}

impl Operand {
    /// The concrete operand at evaluation time `now`.
    pub fn resolve(&self, now: DateTime<Utc>) -> Operand {
        match self {
            Operand::Relative {
                amount,
                unit,
                field_type,
            } => {
                let moment = shift(now, *amount, *unit);
                Operand::Text(if *field_type == FieldType::Date {
                    values::format_date(moment.date_naive())
                } else {
                    values::format_datetime(moment)
                })
            }
            other => other.clone(),
        }
    }
}

fn shift(now: DateTime<Utc>, amount: i64, unit: Unit) -> DateTime<Utc> {
    let months = |n: i64| Months::new(u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX));
    let shifted = match unit {
        Unit::Hours => now.checked_add_signed(chrono::Duration::hours(amount)),
        Unit::Days => now.checked_add_signed(chrono::Duration::days(amount)),
        Unit::Weeks => now.checked_add_signed(chrono::Duration::weeks(amount)),
        Unit::Months | Unit::Years => {
            let n = if unit == Unit::Years {
                amount.saturating_mul(12)
            } else {
                amount
            };
            if n >= 0 {
                now.checked_add_months(months(n))
            } else {
                now.checked_sub_months(months(n))
            }
        }
    };
    shifted.unwrap_or(if amount < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// A checked rule, ready to compile to SQL or to evaluate in memory.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare {
        target: Target,
        op: CompareOp,
        value: Operand,
    },
    In {
        target: Target,
        values: Vec<Operand>,
    },
    Exists {
        target: Target,
    },
    Contains {
        target: Target,
        text: String,
    },
    StartsWith {
        target: Target,
        text: String,
    },
    InSegment {
        segment_id: i32,
    },
}

/// Parses and checks a rule. `segments` maps the names of existing segments to their ids.
///
/// # Errors
/// A [`RuleError`] at the first mistake.
pub fn compile(
    source: &str,
    catalog: &Catalog,
    segments: &BTreeMap<String, i32>,
) -> Result<Cond, RuleError> {
    let expr = parse(source)?;
    check(source, &expr, catalog, segments)
}

/// Checks a parsed rule.
///
/// # Errors
/// A [`RuleError`] at the first mistake.
pub fn check(
    source: &str,
    expr: &Expr,
    catalog: &Catalog,
    segments: &BTreeMap<String, i32>,
) -> Result<Cond, RuleError> {
    let checker = Checker {
        source,
        catalog,
        segments,
    };
    checker.expr(expr)
}

struct Checker<'a> {
    source: &'a str,
    catalog: &'a Catalog,
    segments: &'a BTreeMap<String, i32>,
}

impl Checker<'_> {
    fn fail<T>(&self, span: Span, message: impl Into<String>) -> Result<T, RuleError> {
        Err(error_at(self.source, span, message))
    }

    fn expr(&self, expr: &Expr) -> Result<Cond, RuleError> {
        Ok(match expr {
            Expr::And(items) => Cond::And(
                items
                    .iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(items) => Cond::Or(
                items
                    .iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(inner) => Cond::Not(Box::new(self.expr(inner)?)),
            Expr::InSegment { name, span } => match self.segments.get(name) {
                Some(&segment_id) => Cond::InSegment { segment_id },
                None => return self.fail(*span, format!("there is no segment named {name:?}")),
            },
            Expr::Predicate { field, test, .. } => {
                let target = self.target(&field.path, field.span)?;
                self.predicate(target, &field.path, test)?
            }
        })
    }

    fn target(&self, path: &str, span: Span) -> Result<Target, RuleError> {
        if let Some(namespace) = path.strip_prefix("identity.") {
            return match self.catalog.namespace(namespace) {
                Some(n) => Ok(Target::Identity {
                    namespace: n.code.clone(),
                }),
                None => {
                    let known: Vec<&str> = self
                        .catalog
                        .namespaces
                        .iter()
                        .map(|n| n.code.as_str())
                        .collect();
                    self.fail(
                        span,
                        format!(
                            "unknown identity namespace {namespace:?}; known: {}",
                            known.join(", ")
                        ),
                    )
                }
            };
        }
        match self.catalog.field(path) {
            Some(f) => Ok(Target::Attribute {
                path: f.path.clone(),
                field_type: f.field_type,
            }),
            None => {
                let hint = self
                    .catalog
                    .fields
                    .iter()
                    .find(|f| {
                        f.path.eq_ignore_ascii_case(path) || f.path.ends_with(&format!(".{path}"))
                    })
                    .map(|f| format!(" (did you mean {}?)", f.path))
                    .unwrap_or_default();
                self.fail(span, format!("unknown field {path:?}{hint}"))
            }
        }
    }

    fn predicate(&self, target: Target, path: &str, test: &Test) -> Result<Cond, RuleError> {
        let field_type = target.field_type();
        Ok(match test {
            Test::Exists => Cond::Exists { target },
            Test::Compare(op, value) => {
                let ordering = !matches!(op, CompareOp::Eq | CompareOp::Ne);
                if ordering && !field_type.is_ordered() {
                    return self.fail(
                        value.span,
                        format!(
                            "{path} is {field_type}: it can be compared with = and != only, not {}",
                            op.as_str()
                        ),
                    );
                }
                let value = self.operand(field_type, path, value)?;
                Cond::Compare {
                    target,
                    op: *op,
                    value,
                }
            }
            Test::In(items) => {
                if field_type == FieldType::Boolean {
                    return self.fail(
                        items[0].span,
                        format!("{path} is boolean: compare it with = true or = false"),
                    );
                }
                let values = items
                    .iter()
                    .map(|v| self.operand(field_type, path, v))
                    .collect::<Result<_, _>>()?;
                Cond::In { target, values }
            }
            Test::Contains(value) | Test::StartsWith(value) => {
                if field_type != FieldType::Text {
                    return self.fail(
                        value.span,
                        format!(
                            "{path} is {field_type}: contains and starts_with apply to text fields"
                        ),
                    );
                }
                let Literal::Text(text) = &value.literal else {
                    return self.fail(value.span, "expected a text value in double quotes");
                };
                if text.is_empty() {
                    return self.fail(value.span, "the text to look for is empty");
                }
                if matches!(test, Test::Contains(_)) {
                    Cond::Contains {
                        target,
                        text: text.clone(),
                    }
                } else {
                    Cond::StartsWith {
                        target,
                        text: text.clone(),
                    }
                }
            }
        })
    }

    fn operand(
        &self,
        field_type: FieldType,
        path: &str,
        value: &Value,
    ) -> Result<Operand, RuleError> {
        let wrong = |expected: &str| {
            self.fail(
                value.span,
                format!("{path} is {field_type}: expected {expected}"),
            )
        };
        match (&value.literal, field_type) {
            (Literal::Text(s), FieldType::Text) => Ok(Operand::Text(s.clone())),
            (Literal::Text(s), FieldType::Consent) => match s.to_ascii_lowercase().as_str() {
                v @ ("y" | "n") => Ok(Operand::Text(v.to_owned())),
                _ => wrong("\"y\" or \"n\""),
            },
            (Literal::Text(s), FieldType::Date) => match values::parse_date(s) {
                Some(d) => Ok(Operand::Text(values::format_date(d))),
                None => wrong("a date like \"1990-04-23\" or now - 30y"),
            },
            (Literal::Text(s), FieldType::DateTime) => match values::parse_datetime(s) {
                Some(t) => Ok(Operand::Text(values::format_datetime(t))),
                None => wrong("a date-time like \"2026-11-28T09:30:00Z\" or now - 7d"),
            },
            (Literal::Number(n), FieldType::Integer | FieldType::Decimal) => {
                Ok(Operand::Number(*n))
            }
            (Literal::Bool(b), FieldType::Boolean) => Ok(Operand::Bool(*b)),
            (Literal::Now { amount, unit }, FieldType::Date | FieldType::DateTime) => {
                Ok(Operand::Relative {
                    amount: *amount,
                    unit: *unit,
                    field_type,
                })
            }
            (_, FieldType::Text) => wrong("text in double quotes"),
            (_, FieldType::Consent) => wrong("\"y\" or \"n\""),
            (_, FieldType::Integer | FieldType::Decimal) => wrong("a number"),
            (_, FieldType::Boolean) => wrong("true or false"),
            (_, FieldType::Date) => wrong("a date like \"1990-04-23\" or now - 30y"),
            (_, FieldType::DateTime) => {
                wrong("a date-time like \"2026-11-28T09:30:00Z\" or now - 7d")
            }
        }
    }
}
