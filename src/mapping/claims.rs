//! The conversion of a CEL result into the type of the Zendesk claim it
//! computes. Which claims a surface reads, and their types, are the
//! surface's own ([`crate::target::TargetKind::catalog`]).

use cel::Value;

use super::MappingError;
use super::cel::{to_json, type_name};
pub use crate::target::ClaimType;

/// Converts a CEL result to the claim's JSON value; `null` means "omit".
pub fn coerce(
    claim: &str,
    ty: ClaimType,
    v: &Value,
) -> Result<Option<serde_json::Value>, MappingError> {
    let invalid = |found: String| MappingError::ClaimInvalid {
        claim: claim.to_owned(),
        expected: ty.describe().to_owned(),
        found,
    };
    if matches!(v, Value::Null) {
        return Ok(None);
    }
    let out = match (ty, v) {
        (ClaimType::String | ClaimType::IntegerOrString, Value::String(s)) => {
            serde_json::Value::String(s.as_ref().clone())
        }
        (ClaimType::Integer | ClaimType::IntegerOrString, _) => {
            serde_json::Value::from(whole(v).ok_or_else(|| invalid(describe(v)))?)
        }
        (ClaimType::Bool, Value::Bool(b)) => serde_json::Value::Bool(*b),
        (ClaimType::StringList, Value::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(serde_json::Value::String(s.as_ref().clone())),
                    other => {
                        return Err(invalid(format!(
                            "a list whose item {i} is {}",
                            describe(other)
                        )));
                    }
                }
            }
            serde_json::Value::Array(out)
        }
        (ClaimType::Object, Value::Map(_)) => {
            to_json(v).map_err(|t| invalid(format!("a map holding a {t}")))?
        }
        (ClaimType::Role, Value::String(s)) => match s.as_str() {
            "end_user" | "user" | "end-user" => serde_json::Value::from("end_user"),
            "agent" | "admin" => serde_json::Value::from(s.as_str()),
            other => return Err(invalid(format!("the string {other:?}"))),
        },
        (_, other) => return Err(invalid(describe(other))),
    };
    Ok(Some(out))
}

fn whole(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        _ => None,
    }
}

/// "a double (1.5)", "a string (\"x\")": the type, and the value when it is
/// short and scalar. Values are config output or upstream claims the caller
/// sent, so echoing a short one leaks nothing new.
fn describe(v: &Value) -> String {
    let t = type_name(v);
    let article = if matches!(t.as_bytes()[0], b'a' | b'e' | b'i' | b'o' | b'u') {
        "an"
    } else {
        "a"
    };
    match v {
        Value::Int(i) => format!("{article} {t} ({i})"),
        Value::UInt(u) => format!("{article} {t} ({u})"),
        Value::Float(f) => format!("{article} {t} ({f})"),
        Value::Bool(b) => format!("{article} {t} ({b})"),
        Value::String(s) if s.len() <= 40 => format!("{article} {t} ({s:?})"),
        _ => format!("{article} {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn whole_doubles_and_uints_are_integers() {
        let v = coerce("custom_role_id", ClaimType::Integer, &Value::Float(42.0)).unwrap();
        assert_eq!(v, Some(serde_json::json!(42)));
        let v = coerce("custom_role_id", ClaimType::Integer, &Value::UInt(7)).unwrap();
        assert_eq!(v, Some(serde_json::json!(7)));
    }

    #[test]
    fn fractional_integer_is_claim_invalid_with_expected_and_found() {
        let err = coerce("custom_role_id", ClaimType::Integer, &Value::Float(1.5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claim `custom_role_id` must be a whole number; the mapping produced a double (1.5)"
        );
    }

    #[test]
    fn tags_must_be_strings() {
        let list = Value::List(Arc::new(vec![Value::from("a"), Value::Int(1)]));
        let err = coerce("tags", ClaimType::StringList, &list).unwrap_err();
        assert!(err.to_string().contains("item 1 is an int"), "{err}");
    }

    /// The mapping's conversion and the sandbox's type check are one
    /// fact: whatever a mapping produces for a claim type, the type
    /// accepts (and Zendesk takes).
    #[test]
    fn every_coerced_value_is_accepted_by_its_type() {
        let samples = [
            Value::from("x"),
            Value::Int(3),
            Value::UInt(4),
            Value::Float(5.0),
            Value::Float(5.5),
            Value::Bool(true),
            Value::List(Arc::new(vec![Value::from("a"), Value::from("b")])),
            Value::from("end-user"),
            Value::from("agent"),
        ];
        let types = [
            ClaimType::String,
            ClaimType::Integer,
            ClaimType::IntegerOrString,
            ClaimType::StringList,
            ClaimType::Object,
            ClaimType::Bool,
            ClaimType::Role,
        ];
        let mut converted = 0;
        for ty in types {
            for v in &samples {
                if let Ok(Some(json)) = coerce("c", ty, v) {
                    assert!(ty.accepts(&json), "{ty:?} refuses its own {json}");
                    converted += 1;
                }
            }
        }
        assert!(converted >= 10, "{converted}");
    }

    #[test]
    fn old_role_spellings_become_end_user() {
        let v = coerce("role", ClaimType::Role, &Value::from("end-user")).unwrap();
        assert_eq!(v, Some(serde_json::json!("end_user")));
        assert!(coerce("role", ClaimType::Role, &Value::from("owner")).is_err());
    }
}
