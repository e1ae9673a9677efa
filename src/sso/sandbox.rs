//! The sandbox's checks: a stand-in for Zendesk's `/access/jwt` that reads
//! a JWT SSO token as `zendesk.md` says Zendesk does, and reports one
//! pass/fail line per rule instead of a bare "Invalid JWT Request":
//! HS256 with the target's secret (raw UTF-8 bytes), a header with both
//! `alg` and `typ`, `iat` within 3 minutes, a `jti` not seen before, the
//! required `email` and `name`, and the type of every other claim.
//!
//! The token is read here without trusting it — that is the point of the
//! page — so its claims are shown as data, never used.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::source::unverified_parts;
use crate::state::{FirstUse, Store};
use crate::target::ClaimType;
use crate::target::{IAT_WINDOW_SECS, TargetKind};

/// How long a `jti` is remembered: longer than the `iat` window, after
/// which the token is refused anyway.
pub const JTI_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub rule: String,
    pub passed: bool,
    pub detail: String,
}

/// What the sandbox made of a token.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub header: Option<Value>,
    pub payload: Option<Map<String, Value>>,
    pub rules: Vec<Rule>,
    /// Remarks that do not fail the sign-in (claims Zendesk ignores, …).
    pub notes: Vec<String>,
}

impl Inspection {
    pub fn passed(&self) -> bool {
        !self.rules.is_empty() && self.rules.iter().all(|r| r.passed)
    }

    fn rule(&mut self, rule: impl Into<String>, result: Result<String, String>) {
        let (passed, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.rules.push(Rule {
            rule: rule.into(),
            passed,
            detail,
        });
    }
}

/// Checks `jwt` for target `target` with its `secret` at `now`; a `jti`
/// is recorded in `store` only when the signature holds (a forged token
/// cannot use up someone's `jti`).
pub async fn inspect(
    jwt: &str,
    max_bytes: usize,
    secret: &[u8],
    now: i64,
    store: &Store,
    target: &str,
) -> Inspection {
    let mut out = Inspection::default();
    let parts = match unverified_parts(jwt, max_bytes) {
        Ok(p) => p,
        Err(e) => {
            out.rule(
                "format",
                Err(format!(
                    "expected a compact JWT: three base64url parts, a JSON header and a JSON object payload ({e})"
                )),
            );
            return out;
        }
    };
    let (header, payload, signing_input, signature) = (
        parts.unverified_header,
        parts.unverified_payload,
        parts.signing_input,
        parts.signature,
    );
    out.rule(
        "format",
        Ok("three base64url parts, JSON header and payload".into()),
    );
    out.rule(
        "header alg",
        match header.get("alg") {
            Some(Value::String(a)) if a == "HS256" => Ok("HS256".into()),
            other => Err(format!("must be \"HS256\"; found {}", shown(other))),
        },
    );
    out.rule(
        "header typ",
        match header.get("typ") {
            Some(Value::String(t)) if t == "JWT" => Ok("JWT".into()),
            other => Err(format!(
                "must be \"JWT\" (without it Zendesk answers \"JWT signature invalid\"); found {}",
                shown(other)
            )),
        },
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let signed = aws_lc_rs::hmac::verify(&key, signing_input.as_bytes(), &signature).is_ok();
    out.rule(
        "signature",
        if signed {
            Ok("HMAC-SHA256 with the target's secret matches".into())
        } else {
            Err(
                "does not match an HMAC-SHA256 with the target's secret (its raw UTF-8 bytes)"
                    .into(),
            )
        },
    );
    out.rule("iat", check_iat(payload.get("iat"), now));
    let jti = match payload.get("jti") {
        Some(Value::String(j)) if !j.is_empty() => {
            if signed {
                let issued_at = payload.get("iat").and_then(Value::as_i64).unwrap_or(now);
                match store
                    .first_use(&format!("sandbox_jti:{target}:{j}"), JTI_TTL, issued_at)
                    .await
                {
                    Ok(FirstUse::Yes) => Ok(format!("{j} not seen before")),
                    Ok(FirstUse::Again) => Err(format!(
                        "{j} was already used; Zendesk accepts each token once"
                    )),
                    Ok(FirstUse::Forgotten) => Err(format!(
                        "{j} cannot be checked: the token was issued before the state store's \
                         records begin (they were lost since), so it is refused"
                    )),
                    Err(e) => {
                        tracing::warn!(error = %e, "sandbox: state store unavailable");
                        Err("cannot be checked: the state store does not answer".into())
                    }
                }
            } else {
                Err("not checked: the signature does not hold".into())
            }
        }
        other => Err(format!("required: a unique string; found {}", shown(other))),
    };
    out.rule("jti", jti);
    out.rule(
        "email",
        match payload.get("email") {
            Some(Value::String(e)) if crate::target::looks_like_email(e) => Ok(e.clone()),
            other => Err(format!(
                "required: an email address; found {}",
                shown(other)
            )),
        },
    );
    out.rule(
        "name",
        match payload.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => Ok(n.clone()),
            other => Err(format!(
                "required: a non-empty string (it overwrites the user's name at every sign-in); found {}",
                shown(other)
            )),
        },
    );
    for (claim, value) in &payload {
        if matches!(claim.as_str(), "iat" | "jti" | "email" | "name") {
            continue;
        }
        match TargetKind::Sso.claim_type(claim) {
            Some(ty) => {
                let result = check_type(ty, value).and_then(|d| {
                    match crate::target::sso::claim_problem(claim, value, &payload) {
                        Some(problem) => Err(problem),
                        None => Ok(d),
                    }
                });
                out.rule(format!("claim {claim}"), result);
            }
            None if claim == "exp" => out
                .notes
                .push("exp: Zendesk's JWT SSO does not read it (iat decides)".into()),
            None => out
                .notes
                .push(format!("{claim}: not a JWT SSO claim; Zendesk ignores it")),
        }
    }
    out.header = Some(Value::Object(header));
    out.payload = Some(payload);
    out
}

fn check_iat(v: Option<&Value>, now: i64) -> Result<String, String> {
    let Some(Value::Number(n)) = v else {
        return Err(format!(
            "required: whole seconds since 1970 (UTC); found {}",
            shown(v)
        ));
    };
    let Some(iat) = n.as_i64() else {
        return Err(format!("must be whole seconds; found {n}"));
    };
    // `iat` is whoever posted here: saturate, never overflow.
    let off = now.saturating_sub(iat);
    let window = IAT_WINDOW_SECS;
    if off.unsigned_abs() <= window {
        Ok(format!(
            "{} ({}; within ±{window} s)",
            crate::source::rfc3339(iat),
            match off {
                0 => "now".to_owned(),
                o if o > 0 => format!("{o} s ago"),
                o => format!("{} s from now", o.unsigned_abs()),
            }
        ))
    } else {
        Err(format!(
            "{} is {} s {} Zendesk's clock; at most {window} s are accepted",
            crate::source::rfc3339(iat),
            off.unsigned_abs(),
            if off > 0 { "behind" } else { "ahead of" }
        ))
    }
}

fn check_type(ty: ClaimType, v: &Value) -> Result<String, String> {
    if ty.accepts(v) {
        Ok(format!("{} ({})", ty.describe(), short(v)))
    } else {
        Err(format!("must be {}; found {}", ty.describe(), short(v)))
    }
}

fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".into(), short)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// The form field that carries the sign-in's `explain` report, sealed,
/// from the page that posts to the sandbox to the sandbox page. Zendesk
/// never gets it: only sandbox targets add it.
pub const REPORT_FIELD: &str = "zenbridge_report";

/// The AES-256-GCM key that seals reports, derived from the cookie key
/// (HMAC-SHA256 under a label of its own, so it is no other key).
fn report_key(cookie_key: &[u8]) -> Option<aws_lc_rs::aead::LessSafeKey> {
    let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, cookie_key);
    let derived = aws_lc_rs::hmac::sign(&mac, b"zenbridge sandbox report v1");
    aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, derived.as_ref())
        .ok()
        .map(aws_lc_rs::aead::LessSafeKey::new)
}

/// `report` sealed for `target`'s sandbox: base64url of nonce ‖ ciphertext.
/// Sealed, so that the sandbox shows only what zenbridge wrote: a page
/// elsewhere cannot put words in it.
pub fn seal_report(cookie_key: &[u8], target: &str, report: &Value) -> Option<String> {
    use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
    let key = report_key(cookie_key)?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).ok()?;
    let mut data = serde_json::to_vec(report).ok()?;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(target.as_bytes()),
        &mut data,
    )
    .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        out,
    ))
}

/// A report [`seal_report`] sealed for `target`; `None` for anything else.
pub fn open_report(cookie_key: &[u8], target: &str, sealed: &str) -> Option<Value> {
    use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
    let key = report_key(cookie_key)?;
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        sealed.trim(),
    )
    .ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    let mut data = rest.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let plain = key
        .open_in_place(nonce, Aad::from(target.as_bytes()), &mut data)
        .ok()?;
    serde_json::from_slice(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::memory::MemoryStore;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn sign(header: &Value, payload: &Value, secret: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn failed(i: &Inspection) -> Vec<&str> {
        i.rules
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.rule.as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_good_token_passes_every_rule_once() {
        let store = Store::Memory(MemoryStore::since(0));
        let t = sign(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &json!({"iat": 1000, "jti": "j1", "email": "a@b.co", "name": "A", "role": "agent", "tags": ["x"]}),
            "s3cret-s3cret",
        );
        let i = inspect(&t, 8192, b"s3cret-s3cret", 1100, &store, "t").await;
        assert!(i.passed(), "{:?}", i.rules);
        let again = inspect(&t, 8192, b"s3cret-s3cret", 1100, &store, "t").await;
        assert_eq!(failed(&again), ["jti"]);
    }

    #[tokio::test]
    async fn each_broken_rule_is_named() {
        let store = Store::Memory(MemoryStore::since(0));
        let t = sign(
            &json!({"alg": "HS256"}),
            &json!({"iat": 1.5, "jti": "j2", "email": "nope", "role": "boss", "custom_role_id": 3}),
            "other-secret",
        );
        let i = inspect(&t, 8192, b"s3cret-s3cret", 1100, &store, "t").await;
        assert_eq!(
            failed(&i),
            [
                "header typ",
                "signature",
                "iat",
                "jti",
                "email",
                "name",
                "claim custom_role_id",
                "claim role"
            ]
        );
        let garbage = inspect("not a jwt", 8192, b"x", 0, &store, "t").await;
        assert_eq!(failed(&garbage), ["format"]);
    }

    /// A sealed report opens only with its key and for its target; a
    /// changed byte, another target or another key gets nothing.
    #[test]
    fn a_sealed_report_opens_only_as_sealed() {
        let report = json!({"routing": "iss → source", "rules": []});
        let sealed = seal_report(b"key-one-0123456789abcdef0123456789", "t", &report).unwrap();
        assert_eq!(
            open_report(b"key-one-0123456789abcdef0123456789", "t", &sealed),
            Some(report)
        );
        assert_eq!(
            open_report(b"key-two-0123456789abcdef0123456789", "t", &sealed),
            None
        );
        assert_eq!(
            open_report(b"key-one-0123456789abcdef0123456789", "u", &sealed),
            None
        );
        let mut forged = sealed.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            open_report(b"key-one-0123456789abcdef0123456789", "t", &forged),
            None
        );
        assert_eq!(
            open_report(b"key-one-0123456789abcdef0123456789", "t", "x"),
            None
        );
    }

    /// The sandbox reads tokens through the one unverified decoder, with
    /// its size limit: a huge token is refused before anything is decoded.
    #[tokio::test]
    async fn an_oversized_token_is_refused_before_it_is_decoded() {
        let store = Store::Memory(MemoryStore::since(0));
        let claims = json!({"iat": 1000, "jti": "big", "email": "a@b.co", "name": "A", "pad": "x".repeat(9000)});
        let t = sign(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &claims,
            "s3cret-s3cret",
        );
        let i = inspect(&t, 8192, b"s3cret-s3cret", 1000, &store, "t").await;
        assert_eq!(failed(&i), ["format"]);
        assert!(
            i.rules[0].detail.contains("at most 8192 are accepted"),
            "{:?}",
            i.rules
        );
        assert!(i.payload.is_none());
        let i = inspect(&t, 64 * 1024, b"s3cret-s3cret", 1000, &store, "t").await;
        assert!(i.passed(), "{:?}", i.rules);
    }

    /// The sandbox and the minter share Zendesk's rules: a tag with a tab
    /// (which the minter always refused) fails here too, and a past `iat`
    /// reads as past.
    #[tokio::test]
    async fn the_sandbox_applies_the_minters_rules() {
        let store = Store::Memory(MemoryStore::since(0));
        let t = sign(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &json!({"iat": 1000, "jti": "j3", "email": "a@b.co", "name": "A", "tags": ["a\tb"]}),
            "s3cret-s3cret",
        );
        let i = inspect(&t, 8192, b"s3cret-s3cret", 1013, &store, "t").await;
        assert_eq!(failed(&i), ["claim tags"]);
        let minted =
            crate::target::sso::check_user_claims(i.payload.as_ref().unwrap_or(&Map::new()));
        assert!(minted.is_err());
        let iat = i
            .rules
            .iter()
            .find(|r| r.rule == "iat")
            .map(|r| r.detail.as_str());
        assert!(iat.is_some_and(|d| d.contains("13 s ago")), "{iat:?}");
    }

    #[test]
    fn a_hostile_iat_is_a_failed_rule_not_an_overflow() {
        for iat in [i64::MIN, i64::MAX, -1] {
            let got = check_iat(Some(&json!(iat)), 1100);
            assert!(got.is_err(), "{iat}: {got:?}");
        }
        assert!(check_iat(Some(&json!(1000)), 1100).is_ok());
    }
}
