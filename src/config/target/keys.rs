//! A target's signing key: `secret` (with `key_id` for messaging), or a
//! messaging target's `keys = [{ id, secret }, …]`, the first of which
//! signs. Zendesk keeps up to ten keys per messaging app, all valid at once,
//! so a rotation is: create the new key in Zendesk, put it first here and
//! reload, and delete the old one (here and in Zendesk) once the tokens it
//! signed have expired. Listing the old key changes nothing zenbridge
//! signs; it keeps the config a record of what Zendesk holds, and moving
//! it back to the front is the roll-back.

use std::collections::HashMap;

use super::super::raw::RawTarget;
use super::super::{Problem, Secret, Validator};
use crate::target::TargetKind;

/// Zendesk's limit of keys per messaging app.
pub const MAX_KEYS: usize = 10;

/// The key a target signs with.
pub struct SigningKey {
    pub secret: Secret,
    /// `kid` of messaging tokens.
    pub key_id: Option<String>,
    /// Every listed key id (messaging `keys`), the signing one first.
    pub key_ids: Vec<String>,
}

impl Validator {
    pub(in crate::config) fn signing_key(
        &mut self,
        path: &str,
        kind: TargetKind,
        raw: &RawTarget,
    ) -> Option<SigningKey> {
        // On another kind, `keys` is reported as a key of the wrong kind.
        if let Some(keys) = raw.keys.as_ref().filter(|_| kind == TargetKind::Messaging) {
            return self.messaging_keys(path, raw, keys);
        }
        let secret = self.secret(&format!("{path}.secret"), raw.secret.as_ref(), true);
        if kind == TargetKind::Messaging {
            match &raw.key_id {
                None => self.p.push(
                    format!("{path}.key_id"),
                    "is required: the key id Zendesk shows beside the secret (app_…), or list the keys in `keys`",
                ),
                Some(k) if k.trim().is_empty() => {
                    self.p.push(format!("{path}.key_id"), "must not be empty");
                }
                Some(_) => {}
            }
        }
        Some(SigningKey {
            secret: secret?,
            key_id: raw.key_id.clone(),
            key_ids: raw.key_id.iter().cloned().collect(),
        })
    }

    /// `keys`: one to ten, ids and secrets each used once; the first signs.
    fn messaging_keys(
        &mut self,
        path: &str,
        raw: &RawTarget,
        keys: &[super::super::raw::RawMessagingKey],
    ) -> Option<SigningKey> {
        let keys_path = format!("{path}.keys");
        for (key, given) in [
            ("secret", raw.secret.is_some()),
            ("key_id", raw.key_id.is_some()),
        ] {
            if given {
                self.p.push(
                    format!("{path}.{key}"),
                    "cannot be set with `keys`: the first of `keys` is the signing key",
                );
            }
        }
        // An item dropped for its own problem has been reported already.
        let item = format!("{keys_path}[");
        if keys.is_empty() && !self.p.0.iter().any(|q| q.path.starts_with(&item)) {
            self.p
                .push(&keys_path, "lists no key; list the signing key first");
        }
        if keys.len() > MAX_KEYS {
            self.p.push(
                &keys_path,
                format!(
                    "lists {} keys; Zendesk keeps at most {MAX_KEYS} per messaging app",
                    keys.len()
                ),
            );
        }
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut secrets: Vec<Option<Secret>> = Vec::new();
        for (j, k) in keys.iter().enumerate() {
            let at = format!("{keys_path}[{j}]");
            if k.id.trim().is_empty() {
                self.p.push(format!("{at}.id"), "must not be empty");
            } else if let Some(first) = ids.insert(k.id.as_str(), j) {
                self.p.push(
                    format!("{at}.id"),
                    format!("{:?} is also keys[{first}]", k.id),
                );
            }
            let secret = self.secret(&format!("{at}.secret"), Some(&k.secret), true);
            if let Some(s) = &secret
                && let Some(first) = secrets
                    .iter()
                    .position(|o| o.as_ref().is_some_and(|o| o.expose() == s.expose()))
            {
                self.p.push(
                    format!("{at}.secret"),
                    format!("is the secret of keys[{first}] too; each key has its own"),
                );
            }
            secrets.push(secret);
        }
        let first = keys.first()?;
        if keys.len() > 1 {
            self.notes.push(Problem::new(
                keys_path,
                format!(
                    "signs with {:?}; the other keys are listed only: delete them here and in Zendesk once the tokens they signed have expired (the target's ttl)",
                    first.id
                ),
            ));
        }
        Some(SigningKey {
            secret: secrets.into_iter().next().flatten()?,
            key_id: Some(first.id.clone()),
            key_ids: keys.iter().map(|k| k.id.clone()).collect(),
        })
    }
}
