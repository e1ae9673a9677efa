//! `firebase`: Firebase Authentication ID tokens. Keys are Google's
//! securetoken keys (an X.509 certificate map, or the same keys as JWKS),
//! refreshed by `Cache-Control: max-age`. Besides the common checks
//! (`iss` = `https://securetoken.google.com/<project>`, `aud` = project,
//! RS256 only), Firebase requires a non-empty `sub` of at most 128
//! characters, and `iat` and `auth_time` not in the future (times are
//! read by [`super::time_claim`], and compared with saturating arithmetic:
//! a hostile `auth_time` is refused, never an overflow).

use serde_json::{Map, Value};

use super::{Kind, VerifyError, rfc3339, time_claim};

pub struct FirebaseKind {
    pub insecure_emulator: bool,
}

impl Kind for FirebaseKind {
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: i64,
        leeway: i64,
    ) -> Result<(), VerifyError> {
        match claims.get("sub") {
            None => {
                return Err(VerifyError::ClaimMissing {
                    claim: "sub".into(),
                    why: "Firebase ID tokens carry the user's uid there".into(),
                });
            }
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 128 => {}
            Some(Value::String(s)) => {
                return Err(VerifyError::ClaimInvalid {
                    claim: "sub".into(),
                    detail: format!("must be 1 to 128 characters; it has {}", s.chars().count()),
                });
            }
            Some(_) => {
                return Err(VerifyError::ClaimInvalid {
                    claim: "sub".into(),
                    detail: "must be a string".into(),
                });
            }
        }
        let Some(iat) = time_claim(claims, "iat")? else {
            return Err(VerifyError::ClaimMissing {
                claim: "iat".into(),
                why: "Firebase ID tokens always have it".into(),
            });
        };
        debug_assert!(
            iat <= now.saturating_add(leeway),
            "checked by the common checks"
        );
        // `auth_time` is the caller's: saturate (`time_claim` bounds it too).
        if let Some(auth_time) = time_claim(claims, "auth_time")?
            && auth_time > now.saturating_add(leeway)
        {
            return Err(VerifyError::IssuedInFuture {
                at: rfc3339(auth_time),
                within: format!("{}s", auth_time.saturating_sub(now)),
                leeway: format!("{leeway}s"),
            });
        }
        Ok(())
    }

    fn accepts_unsigned(&self) -> bool {
        self.insecure_emulator
    }
}
