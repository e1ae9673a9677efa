//! What every kind checks the same way: the registered claims (`iss`,
//! `aud`, `exp`, `nbf`, `iat`, RFC 7519 §4.1) with the source's leeway,
//! and how a token's times are read ([`time_claim`]) and written
//! ([`rfc3339`]).
//!
//! Token times are the caller's: they are whole seconds from 1970 to the
//! year 9999, and every sum and difference saturates.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{ECHO_VALUE_CHARS, VerifyError, clip};
use crate::config::SourceConfig;

pub(super) fn check_standard(
    cfg: &SourceConfig,
    claims: &Map<String, Value>,
    now: i64,
    leeway: i64,
    note: &mut dyn FnMut(&dyn Fn() -> String),
) -> Result<(), VerifyError> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(tenants) = &cfg.tenants {
        let tid = tenants.check(iss, claims)?;
        note(&|| format!("issuer: {iss} (tenant {tid}, allowed; tid agrees)"));
    } else if iss != cfg.issuer {
        return Err(VerifyError::IssuerUnknown {
            expected: cfg.issuer.clone(),
            found: clip(iss, ECHO_VALUE_CHARS).into_owned(),
        });
    } else {
        note(&|| format!("issuer: {iss}"));
    }
    check_audience(&cfg.audiences, claims, note)?;
    let exp = time_claim(claims, "exp")?.ok_or_else(|| VerifyError::ClaimMissing {
        claim: "exp".into(),
        why: "only expiring tokens are accepted".into(),
    })?;
    check_times(claims, exp, now, leeway, note)
}

/// `aud` (a string or a list) holds one of `expected`.
pub(super) fn check_audience(
    expected: &[String],
    claims: &Map<String, Value>,
    note: &mut dyn FnMut(&dyn Fn() -> String),
) -> Result<(), VerifyError> {
    let found: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !found.iter().any(|a| expected.iter().any(|e| e == a)) {
        return Err(VerifyError::AudienceMismatch {
            expected: expected.join(", "),
            found: clip(&found.join(", "), ECHO_VALUE_CHARS).into_owned(),
        });
    }
    note(&|| format!("audience: [{}] accepted", found.join(", ")));
    Ok(())
}

/// `exp` (already read), `nbf` and `iat` against `now` with `leeway`.
pub(super) fn check_times(
    claims: &Map<String, Value>,
    exp: i64,
    now: i64,
    leeway: i64,
    note: &mut dyn FnMut(&dyn Fn() -> String),
) -> Result<(), VerifyError> {
    not_expired(exp, now, leeway)?;
    check_not_future(claims, now, leeway)?;
    note(&|| {
        format!(
            "lifetime: expires {} (in {})",
            rfc3339(exp),
            span(exp.saturating_sub(now))
        )
    });
    Ok(())
}

/// `exp`, when the token has one, is not past by more than `leeway`;
/// returns it.
pub(super) fn check_exp(
    claims: &Map<String, Value>,
    now: i64,
    leeway: i64,
) -> Result<Option<i64>, VerifyError> {
    let exp = time_claim(claims, "exp")?;
    if let Some(exp) = exp {
        not_expired(exp, now, leeway)?;
    }
    Ok(exp)
}

/// `exp` is not past by more than `leeway`.
fn not_expired(exp: i64, now: i64, leeway: i64) -> Result<(), VerifyError> {
    // Token times are the caller's: every sum and difference saturates
    // (`time_claim` already bounds them, this keeps it so if it changes).
    if now > exp.saturating_add(leeway) {
        return Err(VerifyError::Expired {
            at: rfc3339(exp),
            ago: span(now.saturating_sub(exp)),
            leeway: span(leeway),
        });
    }
    Ok(())
}

/// `nbf` and `iat`, when the token has them, are not in the future by more
/// than `leeway`; returns `iat`.
pub(super) fn check_not_future(
    claims: &Map<String, Value>,
    now: i64,
    leeway: i64,
) -> Result<Option<i64>, VerifyError> {
    if let Some(nbf) = time_claim(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(VerifyError::NotYetValid {
            at: rfc3339(nbf),
            within: span(nbf.saturating_sub(now)),
            leeway: span(leeway),
        });
    }
    let iat = time_claim(claims, "iat")?;
    if let Some(iat) = iat
        && iat > now.saturating_add(leeway)
    {
        return Err(VerifyError::IssuedInFuture {
            at: rfc3339(iat),
            within: span(iat.saturating_sub(now)),
            leeway: span(leeway),
        });
    }
    Ok(iat)
}

/// The latest time a token may name: 9999-12-31T23:59:59Z, the last
/// second RFC 3339 can write.
pub const MAX_TIME: i64 = 253_402_300_799;

/// A NumericDate claim (RFC 7519: seconds since 1970, possibly
/// fractional), as whole seconds in `0..=`[`MAX_TIME`]. Anything else (a
/// negative time, a year past 9999, a float beyond `i64`, a string) is
/// refused, so the times the checks subtract are small enough never to
/// overflow.
pub fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    let invalid = |detail: String| VerifyError::ClaimInvalid {
        claim: name.into(),
        detail,
    };
    let range = || format!("0 to {MAX_TIME} (the year 9999)");
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let secs = if let Some(i) = n.as_i64() {
                Some(i)
            } else if n.is_u64() {
                None
            } else {
                // `as` saturates, and the range test below refuses what it
                // saturated; NaN and infinities are not JSON numbers, but
                // are refused too.
                #[allow(clippy::cast_possible_truncation)]
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            };
            match secs {
                Some(t) if (0..=MAX_TIME).contains(&t) => Ok(Some(t)),
                Some(t) if t < 0 => Err(invalid(format!(
                    "must be a time in seconds from {}; it is negative",
                    range()
                ))),
                _ => Err(invalid(format!(
                    "must be a time in seconds from {}; it is larger",
                    range()
                ))),
            }
        }
        Some(_) => Err(invalid(
            "must be a number of seconds; it is not a number".into(),
        )),
    }
}

pub fn rfc3339(t: i64) -> String {
    let t = u64::try_from(t.clamp(0, MAX_TIME)).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

pub(super) fn span(secs: i64) -> String {
    humantime::format_duration(Duration::from_secs(secs.unsigned_abs())).to_string()
}
