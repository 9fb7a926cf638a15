//! An in-memory evaluator of checked rules over one profile: the reference the SQL compilation
//! is tested against, and the explanation behind "why is this profile (not) in the segment?".

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::check::{Cond, Operand, Target};
use super::rule::CompareOp;
use crate::profiles::values::get_path;

/// A profile as the evaluator sees it.
pub struct ProfileView<'a> {
    pub attributes: &'a Value,
    /// (namespace, value) pairs.
    pub identities: &'a [(String, String)],
    /// Whether the profile is a realized member of a segment (by id).
    pub in_segment: &'a dyn Fn(i32) -> bool,
}

/// Whether the profile matches. A predicate on a missing value is false; `not` makes it true.
pub fn matches(cond: &Cond, profile: &ProfileView<'_>, now: DateTime<Utc>) -> bool {
    match cond {
        Cond::And(items) => items.iter().all(|c| matches(c, profile, now)),
        Cond::Or(items) => items.iter().any(|c| matches(c, profile, now)),
        Cond::Not(inner) => !matches(inner, profile, now),
        Cond::InSegment { segment_id } => (profile.in_segment)(*segment_id),
        Cond::Exists { target } => values_of(target, profile).next().is_some(),
        Cond::Compare { target, op, value } => {
            let value = value.resolve(now);
            values_of(target, profile).any(|v| compare(&v, *op, &value))
        }
        Cond::In { target, values } => {
            let values: Vec<Operand> = values.iter().map(|v| v.resolve(now)).collect();
            values_of(target, profile).any(|v| values.iter().any(|o| compare(&v, CompareOp::Eq, o)))
        }
        Cond::Contains { target, text } => values_of(target, profile)
            .any(|v| v.as_str().is_some_and(|s| s.contains(text.as_str()))),
        Cond::StartsWith { target, text } => values_of(target, profile)
            .any(|v| v.as_str().is_some_and(|s| s.starts_with(text.as_str()))),
    }
}

/// The values a target has on a profile: one attribute value, or every identity value.
fn values_of<'a>(
    target: &'a Target,
    profile: &'a ProfileView<'a>,
) -> Box<dyn Iterator<Item = Value> + 'a> {
    match target {
        Target::Attribute { path, .. } => {
            Box::new(get_path(profile.attributes, path).cloned().into_iter())
        }
        Target::Identity { namespace } => Box::new(
            profile
                .identities
                .iter()
                .filter(move |(ns, _)| ns == namespace)
                .map(|(_, v)| Value::from(v.as_str())),
        ),
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Operand) -> bool {
    let ordering = match (actual, expected) {
        (Value::String(a), Operand::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Number(a), Operand::Number(b)) => match a.as_f64().and_then(|a| a.partial_cmp(b)) {
            Some(o) => o,
            None => return false,
        },
        (Value::Bool(a), Operand::Bool(b)) => a.cmp(b),
        _ => return false,
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
}
