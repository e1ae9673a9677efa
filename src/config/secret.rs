//! Secrets: where they come from (`{ env }`, `{ file }`, a literal) and the
//! one type that holds them, which never prints its value.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The shortest secret accepted. Zendesk shows a redacted secret as nine
/// characters; refusing anything shorter than ten catches a pasted redaction.
pub const MIN_SECRET_LEN: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSecret {
    Literal(String),
    Env(EnvSecret),
    File(FileSecret),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSecret {
    pub env: String,
}

/// `{ file = "…" }`: a relative path is taken from the config file's
/// folder, as `jwks_file` and `public_key_file` are, not from the working
/// directory; an absolute path is used as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSecret {
    pub file: PathBuf,
}

/// Where a secret came from, for messages (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Literal,
    Env(String),
    File(PathBuf),
}

/// A resolved secret. `Debug` shows `[redacted]` and the origin only.
#[derive(Clone)]
pub struct Secret {
    value: SecretString,
    pub origin: Origin,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret([redacted] from {:?})", self.origin)
    }
}

impl Secret {
    /// Builds a secret from a value the program made itself (the demo).
    pub fn generated(value: String) -> Self {
        Self {
            value: SecretString::from(value),
            origin: Origin::Literal,
        }
    }

    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    pub fn is_literal(&self) -> bool {
        self.origin == Origin::Literal
    }
}

/// `NAME`: ASCII letters, digits and `_`, not starting with a digit.
fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RawSecret {
    /// Reads the secret. A relative `{ file }` path is taken from `base`,
    /// the config file's folder (from the working directory when there is
    /// none, as for a config given as text). A file's trailing newline is
    /// dropped (editors add one); any other whitespace is kept, since it is
    /// part of the secret. An empty secret is refused, saying where it was
    /// read (a variable that is set but empty, an empty file).
    pub fn resolve(&self, base: Option<&Path>) -> Result<Secret, String> {
        let (value, origin) = match self {
            RawSecret::Literal(v) => (v.clone(), Origin::Literal),
            RawSecret::Env(EnvSecret { env }) => match std::env::var(env) {
                Ok(v) => (v, Origin::Env(env.clone())),
                Err(std::env::VarError::NotPresent) => {
                    return Err(format!("environment variable {env} is not set"));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("environment variable {env} is not UTF-8"));
                }
            },
            RawSecret::File(FileSecret { file }) => {
                let file = match base {
                    Some(base) if file.is_relative() => base.join(file),
                    _ => file.clone(),
                };
                match std::fs::read_to_string(&file) {
                    Ok(v) => {
                        let v = v.strip_suffix('\n').unwrap_or(&v);
                        let v = v.strip_suffix('\r').unwrap_or(v);
                        (v.to_owned(), Origin::File(file))
                    }
                    Err(e) => {
                        return Err(format!("cannot read secret file {}: {e}", file.display()));
                    }
                }
            }
        };
        if value.is_empty() {
            return Err(match origin {
                Origin::Literal => "is empty".to_owned(),
                Origin::Env(name) => format!("environment variable {name} is set but empty"),
                Origin::File(file) => format!("secret file {} is empty", file.display()),
            });
        }
        Ok(Secret {
            value: SecretString::from(value),
            origin,
        })
    }

    /// A literal that reads like a reference rather than a secret: the
    /// name of an environment variable (`"ZENDESK_SSO_SECRET"`), with a
    /// shell's `$` (`"$NAME"`, `"${NAME}"`), or a `{ env = … }` table in
    /// quotes. Taken as the secret, it would sign tokens that zenbridge's
    /// own sandbox accepts and Zendesk refuses. Returns what the literal
    /// looks like and the form to write instead.
    pub fn reference_in_literal(&self) -> Option<(String, String)> {
        let RawSecret::Literal(v) = self else {
            return None;
        };
        let v = v.trim();
        let shell = v
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .or_else(|| v.strip_prefix('$'))
            .filter(|name| is_identifier(name));
        let bare = (is_identifier(v)
            && v.contains('_')
            && v.starts_with(|c: char| c.is_ascii_uppercase())
            && !v.contains(|c: char| c.is_ascii_lowercase()))
        .then_some(v);
        if let Some(name) = shell.or(bare) {
            return Some((
                format!(
                    "{v:?} looks like the name of the environment variable {name}, but a string is taken as the secret itself"
                ),
                format!("write {{ env = \"{name}\" }} to read the variable"),
            ));
        }
        let table = v.starts_with('{')
            && v.ends_with('}')
            && (v.contains("env") || v.contains("file"))
            && v.contains('=');
        table.then(|| {
            (
                "is a string holding a { env = … } or { file = … } table, so the text itself would be the secret".to_owned(),
                format!("write the table without the quotes: {v}"),
            )
        })
    }

    /// [`RawSecret::resolve`], refusing a secret shorter than
    /// [`MIN_SECRET_LEN`].
    pub fn resolve_min(&self, base: Option<&Path>) -> Result<Secret, String> {
        let s = self.resolve(base)?;
        let len = s.expose().chars().count();
        if len < MIN_SECRET_LEN {
            return Err(format!(
                "secret must be at least {MIN_SECRET_LEN} characters; it has {len} (a 9-character value is usually Zendesk's redacted display, not the secret)"
            ));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_secret_never_shows_the_value() {
        let s = RawSecret::Literal("hunter2hunter2".into())
            .resolve(None)
            .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn literals_that_name_a_variable_are_recognised_and_secrets_are_not() {
        let named = |v: &str| {
            RawSecret::Literal(v.into())
                .reference_in_literal()
                .map(|(_, fix)| fix)
        };
        for v in [
            "${ZENDESK_SSO_SECRET}",
            "$ZENDESK_SSO_SECRET",
            "ZENDESK_SSO_SECRET",
        ] {
            assert_eq!(
                named(v).as_deref(),
                Some(r#"write { env = "ZENDESK_SSO_SECRET" } to read the variable"#),
                "{v}"
            );
        }
        assert!(named(r#"{ env = "X_Y" }"#).is_some());
        // Real secrets, however they look.
        for v in [
            "dGhpcyBpcyBhIHNlY3JldA",
            "ABCDEF0123456789ABCDEF",
            "Zendesk_Shared_Secret_1",
            "$3cr3t-with-a-dollar",
            "legacy-shared-secret-0123456789",
        ] {
            assert_eq!(named(v), None, "{v}");
        }
    }

    #[test]
    fn an_empty_variable_or_file_is_named_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "\n").unwrap();
        let err = RawSecret::File(FileSecret { file: p.clone() })
            .resolve(None)
            .unwrap_err();
        assert_eq!(err, format!("secret file {} is empty", p.display()));
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = RawSecret::Literal("123456789".into())
            .resolve_min(None)
            .unwrap_err();
        assert!(err.contains("at least 10"), "{err}");
    }

    #[test]
    fn secret_file_loses_its_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, " padded secret \n").unwrap();
        let s = RawSecret::File(FileSecret { file: p })
            .resolve(None)
            .unwrap();
        assert_eq!(s.expose(), " padded secret ");
    }

    #[test]
    fn a_relative_secret_file_is_taken_from_the_base_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/s"), "from-the-base-folder\n").unwrap();
        let relative = RawSecret::File(FileSecret {
            file: PathBuf::from("secrets/s"),
        });
        let s = relative.resolve(Some(dir.path())).unwrap();
        assert_eq!(s.expose(), "from-the-base-folder");
        assert_eq!(s.origin, Origin::File(dir.path().join("secrets/s")));
        let absolute = RawSecret::File(FileSecret {
            file: dir.path().join("secrets/s"),
        });
        let elsewhere = tempfile::tempdir().unwrap();
        let s = absolute.resolve(Some(elsewhere.path())).unwrap();
        assert_eq!(
            s.expose(),
            "from-the-base-folder",
            "an absolute path is kept"
        );
    }
}
