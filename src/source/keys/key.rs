//! One verification key, with its public key parsed into aws-lc's form
//! once per algorithm (and its HMAC key built once): the per-request
//! verification of [`super::KeySet`]'s keys.

use std::sync::OnceLock;

use aws_lc_rs::signature::{
    ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// One verification key.
///
/// Public keys are parsed into aws-lc's form once, on first use with each
/// algorithm, and kept with the key: an RSA key rebuilt from `n` and `e` on
/// every verification costs a Montgomery set-up (a big-number division)
/// per request. The parse and the check are the ones `jsonwebtoken` makes
/// (same aws-lc algorithm parameters, so the same 2048–8192-bit RSA range),
/// only done once. HMAC keys are likewise built once per algorithm.
pub struct Key {
    pub kid: Option<String>,
    pub key: DecodingKey,
    /// The algorithm the key declares (JWK `alg`), if any.
    pub alg: Option<Algorithm>,
    pub family: Family,
    /// Parsed public keys by [`parsed_slot`]; `None` inside means the key
    /// does not parse for that algorithm (every signature then fails).
    parsed: [OnceLock<Option<ParsedPublicKey>>; PARSED_SLOTS],
    /// HMAC keys for HS256, HS384, HS512 (shared-secret sources).
    hmac: [OnceLock<Option<aws_lc_rs::hmac::Key>>; 3],
}

impl Key {
    pub fn new(
        kid: Option<String>,
        key: DecodingKey,
        alg: Option<Algorithm>,
        family: Family,
    ) -> Self {
        Self {
            kid,
            key,
            alg,
            family,
            parsed: Default::default(),
            hmac: Default::default(),
        }
    }

    /// Checks `signature` (base64url, as in the token) over `message`.
    /// A signature that is not base64url, or a key of another family than
    /// the algorithm's (an RSA key used as an HMAC secret, say), is simply
    /// not valid.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        if let Some((slot, hmac_alg)) = hmac_slot(alg) {
            if self.family != Family::Hmac {
                return false;
            }
            let key = self.hmac[slot].get_or_init(|| {
                let secret = self.key.try_get_as_bytes().ok()?;
                Some(aws_lc_rs::hmac::Key::new(hmac_alg, secret))
            });
            // `hmac::verify` compares in constant time.
            return key
                .as_ref()
                .is_some_and(|k| aws_lc_rs::hmac::verify(k, message, &sig).is_ok());
        }
        let Some((slot, params)) = parsed_slot(alg) else {
            return false;
        };
        self.parsed[slot]
            .get_or_init(|| parse_public(&self.key, params))
            .as_ref()
            .is_some_and(|parsed| parsed.verify_sig(message, &sig).is_ok())
    }
}

fn hmac_slot(alg: Algorithm) -> Option<(usize, aws_lc_rs::hmac::Algorithm)> {
    use aws_lc_rs::hmac;
    Some(match alg {
        Algorithm::HS256 => (0, hmac::HMAC_SHA256),
        Algorithm::HS384 => (1, hmac::HMAC_SHA384),
        Algorithm::HS512 => (2, hmac::HMAC_SHA512),
        _ => return None,
    })
}

const PARSED_SLOTS: usize = 9;

/// aws-lc verification parameters. RSA keys held as `n` and `e` are parsed
/// through their own constructor, which wants the RSA type.
#[derive(Clone, Copy)]
enum Params {
    Rsa(&'static RsaParameters),
    Other(&'static dyn VerificationAlgorithm),
}

/// The slot and aws-lc parameters of a public-key algorithm — the same
/// parameters `jsonwebtoken`'s aws-lc backend verifies with.
fn parsed_slot(alg: Algorithm) -> Option<(usize, Params)> {
    use aws_lc_rs::signature as sig;
    Some(match alg {
        Algorithm::RS256 => (0, Params::Rsa(&sig::RSA_PKCS1_2048_8192_SHA256)),
        Algorithm::RS384 => (1, Params::Rsa(&sig::RSA_PKCS1_2048_8192_SHA384)),
        Algorithm::RS512 => (2, Params::Rsa(&sig::RSA_PKCS1_2048_8192_SHA512)),
        Algorithm::PS256 => (3, Params::Rsa(&sig::RSA_PSS_2048_8192_SHA256)),
        Algorithm::PS384 => (4, Params::Rsa(&sig::RSA_PSS_2048_8192_SHA384)),
        Algorithm::PS512 => (5, Params::Rsa(&sig::RSA_PSS_2048_8192_SHA512)),
        Algorithm::ES256 => (6, Params::Other(&sig::ECDSA_P256_SHA256_FIXED)),
        Algorithm::ES384 => (7, Params::Other(&sig::ECDSA_P384_SHA384_FIXED)),
        Algorithm::EdDSA => (8, Params::Other(&sig::ED25519)),
        // HMAC (see `hmac_slot`), and any algorithm a later jsonwebtoken adds.
        _ => return None,
    })
}

fn parse_public(key: &DecodingKey, params: Params) -> Option<ParsedPublicKey> {
    match (key.kind(), params) {
        (DecodingKeyKind::RsaModulusExponent { n, e }, Params::Rsa(rsa)) => {
            RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(rsa)
                .ok()
        }
        (DecodingKeyKind::RsaModulusExponent { .. }, Params::Other(_)) => None,
        (DecodingKeyKind::SecretOrDer(bytes), Params::Rsa(rsa)) => {
            ParsedPublicKey::new(rsa, bytes).ok()
        }
        (DecodingKeyKind::SecretOrDer(bytes), Params::Other(alg)) => {
            ParsedPublicKey::new(alg, bytes).ok()
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Family {
    pub fn of(alg: Algorithm) -> Self {
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            Algorithm::EdDSA => Family::Ed,
            _ => Family::Rsa,
        }
    }
}
