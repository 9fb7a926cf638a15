//! Checking and normalising attribute values against their field type, from JSON and from
//! CSV text, so stored values always compare the same way in SQL and in Rust.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::schema::FieldType;

/// The longest text value accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// A stored date-time: UTC, second precision, so text order is time order.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A stored date.
pub fn format_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Parses a date written `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Parses an RFC 3339 date-time, or a bare date as midnight UTC.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    parse_date(text)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Checks a JSON value for a field type and returns its stored form, or why it does not fit.
///
/// # Errors
/// A sentence naming the expected form.
pub fn normalize_json(field_type: FieldType, value: &Value) -> Result<Value, String> {
    match (field_type, value) {
        (FieldType::Text, Value::String(s)) => text(s),
        (FieldType::Integer, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
        (FieldType::Integer, Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Value::from(f as i64))
            }
            _ => Err("expected a whole number".into()),
        },
        (FieldType::Decimal, Value::Number(_)) => Ok(value.clone()),
        (FieldType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (FieldType::Integer | FieldType::Decimal | FieldType::Boolean, Value::String(s)) => {
            normalize_text(field_type, s)
        }
        (FieldType::Date | FieldType::DateTime | FieldType::Consent, Value::String(s)) => {
            normalize_text(field_type, s)
        }
        (_, Value::Null) => Ok(Value::Null),
        (t, _) => Err(expected(t).into()),
    }
}

/// Parses text (a CSV cell) for a field type and returns its stored form. Empty text means
/// "no value" and gives `Null`.
///
/// # Errors
/// A sentence naming the expected form.
pub fn normalize_text(field_type: FieldType, raw: &str) -> Result<Value, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(Value::Null);
    }
    let fail = || Err(expected(field_type).to_owned());
    match field_type {
        FieldType::Text => text(raw),
        FieldType::Integer => s.parse::<i64>().map(Value::from).or_else(|_| fail()),
        FieldType::Decimal => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::from(f)),
            _ => fail(),
        },
        FieldType::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => fail(),
        },
        FieldType::Date => parse_date(s)
            .map(|d| Value::from(format_date(d)))
            .map_or_else(fail, Ok),
        FieldType::DateTime => parse_datetime(s)
            .map(|t| Value::from(format_datetime(t)))
            .map_or_else(fail, Ok),
        FieldType::Consent => match s.to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(Value::from("y")),
            "n" | "no" => Ok(Value::from("n")),
            _ => fail(),
        },
    }
}

fn text(s: &str) -> Result<Value, String> {
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("text longer than {MAX_TEXT_CHARS} characters"));
    }
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err("text with control characters".into());
    }
    Ok(Value::from(s))
}

fn expected(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::Text => "expected text",
        FieldType::Integer => "expected a whole number",
        FieldType::Decimal => "expected a number",
        FieldType::Boolean => "expected true or false",
        FieldType::Date => "expected a date like 1990-04-23",
        FieldType::DateTime => "expected a date-time like 2026-11-28T09:30:00Z",
        FieldType::Consent => "expected y or n",
    }
}

/// Reads the value at a dotted path of nested JSON objects.
pub fn get_path<'a>(attributes: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(attributes, |node, key| node.get(key))
        .filter(|v| !v.is_null())
}

/// Sets the value at a dotted path, creating the objects on the way. Null removes the value.
pub fn set_path(attributes: &mut Value, path: &str, value: Value) {
    let keys: Vec<&str> = path.split('.').collect();
    let mut node = attributes;
    for key in &keys[..keys.len() - 1] {
        if !node.is_object() {
            *node = Value::Object(serde_json::Map::new());
        }
        node = node
            .as_object_mut()
            .expect("made an object above")
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(serde_json::Map::new());
    }
    let map = node.as_object_mut().expect("made an object above");
    let last = keys[keys.len() - 1].to_owned();
    if value.is_null() {
        map.remove(&last);
    } else {
        map.insert(last, value);
    }
}

/// Every leaf path of nested JSON objects with its value, for validating imported JSON.
pub fn leaves(attributes: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, node: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            leaf => out.push((prefix.to_owned(), leaf)),
        }
    }
    let mut out = Vec::new();
    walk("", attributes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_become_typed_values() {
        assert_eq!(
            normalize_text(FieldType::Integer, " 42 "),
            Ok(Value::from(42))
        );
        assert!(normalize_text(FieldType::Integer, "4.2").is_err());
        assert_eq!(
            normalize_text(FieldType::Consent, "Y"),
            Ok(Value::from("y"))
        );
        assert!(normalize_text(FieldType::Consent, "maybe").is_err());
        assert_eq!(
            normalize_text(FieldType::Date, "1990-04-23"),
            Ok(Value::from("1990-04-23"))
        );
        assert!(normalize_text(FieldType::Date, "1990-02-30").is_err());
        assert_eq!(
            normalize_text(FieldType::DateTime, "2026-11-28T10:30:00+01:00"),
            Ok(Value::from("2026-11-28T09:30:00Z"))
        );
        assert_eq!(normalize_text(FieldType::Text, "  "), Ok(Value::Null));
        assert!(normalize_text(FieldType::Decimal, "NaN").is_err());
    }

    #[test]
    fn json_values_are_checked_against_the_type() {
        assert_eq!(
            normalize_json(FieldType::Integer, &Value::from(3.0)),
            Ok(Value::from(3))
        );
        assert!(normalize_json(FieldType::Integer, &Value::from(3.5)).is_err());
        assert!(normalize_json(FieldType::Text, &Value::from(3)).is_err());
        assert_eq!(
            normalize_json(FieldType::Boolean, &Value::from("yes")),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn paths_read_and_write_nested_objects() {
        let mut v = serde_json::json!({});
        set_path(&mut v, "person.name.firstName", Value::from("Ada"));
        set_path(&mut v, "loyalty.points", Value::from(5));
        assert_eq!(
            get_path(&v, "person.name.firstName"),
            Some(&Value::from("Ada"))
        );
        assert_eq!(get_path(&v, "person.name.lastName"), None);
        let mut paths: Vec<String> = leaves(&v).into_iter().map(|(p, _)| p).collect();
        paths.sort();
        assert_eq!(paths, ["loyalty.points", "person.name.firstName"]);
        set_path(&mut v, "loyalty.points", Value::Null);
        assert_eq!(get_path(&v, "loyalty.points"), None);
    }
}
