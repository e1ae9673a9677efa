//! Limits on the upstream claims an expression may be evaluated over.
//!
//! The `cel` crate has no evaluation cost budget: an expression that is
//! cheap over honest claims (`claims.groups.all(g, claims.groups.exists(h,
//! h == g))`) is quadratic in the size of a list the token brings, and a
//! signed token from a trusted provider can still carry a list nobody
//! vetted. So what goes in is bounded instead: [`check`] walks the claims
//! once, stopping at the first limit passed, before any expression runs.
//! A claim set over a limit is [`MappingError::ClaimsTooLarge`]
//! (`claim_invalid`), naming the claim and the limit, never the value.
//!
//! The limits sit far above honest tokens (a token is at most
//! `server.max_token_bytes`, 16 KiB by default, anyway) and well below
//! what makes a quadratic expression slow: 256 items make 65 536 steps.

use serde_json::{Map, Value};

use super::MappingError;
use crate::source::{ECHO_HEADER_CHARS, clip};

/// Most items in one list (a JSON array) anywhere in the claims.
pub const MAX_LIST_ITEMS: usize = 256;
/// Longest string (a value or an object key) anywhere in the claims, in
/// bytes.
pub const MAX_STRING_BYTES: usize = 8 * 1024;
/// Deepest nesting: a top-level claim is depth 1, a value in a list or
/// object in it depth 2, and so on.
pub const MAX_DEPTH: usize = 8;
/// Most values in all: every claim, list item, object entry and nested
/// value counts one. Room for two full lists and the rest of a token.
pub const MAX_VALUES: usize = 1024;

/// Refuses claims over any limit above. Runs in time linear in the claims
/// up to the first limit passed.
pub fn check(claims: &Map<String, Value>) -> Result<(), MappingError> {
    let mut walk = Walk { values: 0 };
    walk.object(claims, &mut Vec::new(), 1)
}

struct Walk {
    values: usize,
}

impl Walk {
    fn object<'c>(
        &mut self,
        o: &'c Map<String, Value>,
        path: &mut Vec<Step<'c>>,
        depth: usize,
    ) -> Result<(), MappingError> {
        for (k, v) in o {
            path.push(Step::Key(k));
            if k.len() > MAX_STRING_BYTES {
                return Err(too_large(
                    path,
                    format!(
                        "has a key of {} bytes; a string may have at most {MAX_STRING_BYTES}",
                        k.len()
                    ),
                ));
            }
            self.value(v, path, depth)?;
            path.pop();
        }
        Ok(())
    }

    fn value<'c>(
        &mut self,
        v: &'c Value,
        path: &mut Vec<Step<'c>>,
        depth: usize,
    ) -> Result<(), MappingError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(too_large(
                path,
                format!("is past the limit of {MAX_VALUES} values in all the token's claims"),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(too_large(
                path,
                format!("nests deeper than {MAX_DEPTH} levels; at most {MAX_DEPTH} are accepted"),
            ));
        }
        match v {
            Value::String(s) if s.len() > MAX_STRING_BYTES => Err(too_large(
                path,
                format!(
                    "is a string of {} bytes; a string may have at most {MAX_STRING_BYTES}",
                    s.len()
                ),
            )),
            Value::Array(items) if items.len() > MAX_LIST_ITEMS => Err(too_large(
                path,
                format!(
                    "is a list of {} items; a list may have at most {MAX_LIST_ITEMS}",
                    items.len()
                ),
            )),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    self.value(item, path, depth + 1)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Object(o) => self.object(o, path, depth + 1),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
        }
    }
}

/// One step of the path to a value, for the message.
enum Step<'c> {
    Key(&'c str),
    Index(usize),
}

/// The refusal, naming the claim by its path (`firebase.identities[0]`),
/// each key cut short: keys are the caller's too.
fn too_large(path: &[Step<'_>], detail: String) -> MappingError {
    let mut claim = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !claim.is_empty() {
                    claim.push('.');
                }
                claim.push_str(&clip(k, ECHO_HEADER_CHARS));
            }
            Step::Index(i) => {
                claim.push('[');
                claim.push_str(&i.to_string());
                claim.push(']');
            }
        }
    }
    MappingError::ClaimsTooLarge {
        claim: clip(&claim, 2 * ECHO_HEADER_CHARS).into_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: &Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn honest_claims_pass() {
        let claims = obj(&json!({
            "iss": "https://securetoken.google.com/p", "sub": "u", "email": "a@b.co",
            "groups": (0..MAX_LIST_ITEMS).map(|i| format!("g{i}")).collect::<Vec<_>>(),
            "firebase": {"identities": {"email": ["a@b.co"]}, "sign_in_provider": "password"},
            "bio": "x".repeat(MAX_STRING_BYTES),
        }));
        check(&claims).unwrap();
    }

    #[test]
    fn each_limit_names_the_claim_and_the_limit_never_the_value() {
        let deep = (0..MAX_DEPTH).fold(json!("secret-leaf"), |v, _| json!([v]));
        let cases = [
            (
                json!({"groups": vec!["secret-item"; MAX_LIST_ITEMS + 1]}),
                "groups",
                "257 items; a list may have at most 256",
            ),
            (
                json!({"bio": "secret-".repeat(MAX_STRING_BYTES)}),
                "bio",
                "a string may have at most 8192",
            ),
            (
                json!({"deep": deep}),
                "deep[0][0][0][0][0][0][0]",
                "deeper than 8",
            ),
            (
                json!({"a": vec!["secret-item"; 250], "b": vec!["secret-item"; 250],
                       "c": vec!["secret-item"; 250], "d": vec!["secret-item"; 250],
                       "e": vec!["secret-item"; 250]}),
                "e[",
                "1024 values",
            ),
            (
                json!({"k".repeat(MAX_STRING_BYTES + 1): 1}),
                "kkkk",
                "key of 8193 bytes",
            ),
        ];
        for (claims, claim, limit) in cases {
            let err = check(&obj(&claims)).unwrap_err();
            let MappingError::ClaimsTooLarge { claim: named, .. } = &err else {
                panic!("{err:?}");
            };
            let text = err.to_string();
            assert!(named.starts_with(claim), "{claim}: {text}");
            assert!(text.contains(limit), "{limit}: {text}");
            assert!(
                !text.contains("secret"),
                "the value is never echoed: {text}"
            );
            assert!(text.len() < 300, "a long key is cut too: {text}");
        }
    }
}
