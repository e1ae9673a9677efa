//! Checks a table's keys before serde sees it, so that one mistake costs
//! one problem: an unknown key (`source[1].isuer: unknown key; did you mean
//! `issuer`?`) or a value of the wrong type (`server.max_token_bytes:
//! invalid type: …`) is reported under its own key path and removed, and
//! what is left is deserialised and validated as usual. Without this, serde
//! refuses the whole table, and every check that needs it (a required key,
//! a target naming the source) reports a problem that is not there.

use super::raw::RawTable;
use super::{Problem, Problems};

/// Deserialises `value`, a table at `path`, into `T`, reporting each
/// unknown key and each value of the wrong type under its own path.
/// `None` when the table cannot be built even so (not a table, a required
/// key missing or refused), with the problems recorded.
pub fn table<T: RawTable>(p: &mut Problems, path: &str, value: toml::Value) -> Option<T> {
    let toml::Value::Table(mut t) = value else {
        not_a_table(p, path, &value);
        return None;
    };
    sift::<T>(p, path, &mut t);
    build(p, path, toml::Value::Table(t))
}

/// [`table`] for an item of an array of tables: what is left of the item,
/// or `None` when it cannot be used, so the array it is in still
/// deserialises.
pub fn item<T: RawTable>(p: &mut Problems, path: &str, value: toml::Value) -> Option<toml::Value> {
    let toml::Value::Table(mut t) = value else {
        not_a_table(p, path, &value);
        return None;
    };
    sift::<T>(p, path, &mut t);
    let value = toml::Value::Table(t);
    build::<T>(p, path, value.clone()).map(|_| value)
}

/// Deserialises what is left of a table; a required key it lacks is
/// reported under the key's path.
fn build<T: RawTable>(p: &mut Problems, path: &str, value: toml::Value) -> Option<T> {
    match value.try_into::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            let message = e.message().trim();
            match missing_field(message) {
                Some(field) => p.push(format!("{path}.{field}"), "is required"),
                None => p.push(path, message.to_owned()),
            }
            None
        }
    }
}

fn not_a_table(p: &mut Problems, path: &str, value: &toml::Value) {
    let found = value.type_str();
    let article = if found.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    p.push(path, format!("must be a table; found {article} {found}"));
}

/// Removes, and reports, the keys of `t` that `T` does not have, then
/// checks the items of its nested arrays of tables, then removes, and
/// reports, the keys whose value `T` refuses.
fn sift<T: RawTable>(p: &mut Problems, path: &str, t: &mut toml::Table) {
    let unknown: Vec<String> = t
        .keys()
        .filter(|k| !T::KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        t.remove(&key);
        p.0.push(unknown_key(format!("{path}.{key}"), &key, T::KEYS));
    }
    for &(key, check) in T::NESTED {
        if let Some(toml::Value::Array(items)) = t.get_mut(key) {
            let old = std::mem::take(items);
            *items = old
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| check(p, &format!("{path}.{key}[{i}]"), item))
                .collect();
        }
    }
    // Each key on its own: a value of the wrong type fails while its key
    // is read, before serde looks for the required keys, so "missing
    // field" means this key's value is fine.
    let refused: Vec<(String, String)> = t
        .iter()
        .filter_map(|(key, value)| {
            let mut one = toml::Table::new();
            one.insert(key.clone(), value.clone());
            match toml::Value::Table(one).try_into::<T>() {
                Ok(_) => None,
                Err(e) if missing_field(e.message().trim()).is_some() => None,
                Err(e) => Some((key.clone(), value_message(e.message().trim()))),
            }
        })
        .collect();
    for (key, message) in refused {
        t.remove(&key);
        p.push(format!("{path}.{key}"), message);
    }
}

/// The field of serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

/// serde's message for a refused value, with the one that names a Rust
/// type said in the config's words.
fn value_message(message: &str) -> String {
    if message.contains("untagged enum RawSecret") {
        "a secret is a string, { env = \"NAME\" } or { file = \"PATH\" }".to_owned()
    } else {
        message.to_owned()
    }
}

/// `unknown key; did you mean `issuer`?` when a key is close enough,
/// else the keys of the table.
pub fn unknown_key(path: String, key: &str, known: &[&str]) -> Problem {
    match suggest(key, known) {
        Some(k) => Problem::suggesting(path, "unknown key", format!("did you mean `{k}`?")),
        None => Problem::new(
            path,
            format!(
                "unknown key; expected one of {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

/// The known key closest to `key`, if at most two edits away (one for keys
/// shorter than six characters, none for the very short), the first such
/// on a tie.
pub fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let allowed = (key.chars().count() / 3).min(2);
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits (insertions, deletions, substitutions, swaps of two neighbours)
/// from `a` to `b`, case-insensitively: the optimal string alignment
/// distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawServer, RawSource};

    #[test]
    fn edit_distance_counts_a_swap_as_one_edit() {
        assert_eq!(edit_distance("isuer", "issuer"), 1);
        assert_eq!(edit_distance("tll", "ttl"), 1);
        assert_eq!(edit_distance("audience", "audiences"), 1);
        assert_eq!(edit_distance("Public_URL", "public_url"), 0);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn suggestions_are_close_and_not_for_very_short_keys() {
        assert_eq!(suggest("isuer", RawSource::KEYS), Some("issuer"));
        assert_eq!(suggest("jwks_ulr", RawSource::KEYS), Some("jwks_url"));
        assert_eq!(suggest("publicurl", RawServer::KEYS), Some("public_url"));
        assert_eq!(suggest("zz_probe", RawSource::KEYS), None);
        assert_eq!(suggest("id", &["ttl", "ip"]), None, "too short to guess");
    }

    #[test]
    fn unknown_and_mistyped_keys_are_reported_alone_and_the_rest_is_kept() {
        let value: toml::Value = toml::from_str(
            r#"
public_url = "https://sso.acme.test"
publc_url = "x"
max_token_bytes = "16k"
zz_probe = 1
"#,
        )
        .unwrap();
        let mut p = Problems::default();
        let server = table::<RawServer>(&mut p, "server", value).expect("the rest is kept");
        assert_eq!(server.public_url.as_deref(), Some("https://sso.acme.test"));
        let shown: Vec<String> = p.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(
            shown.contains(&"server.publc_url: unknown key; did you mean `public_url`?".to_owned()),
            "{shown:#?}"
        );
        assert!(
            shown.contains(
                &"server.max_token_bytes: invalid type: string \"16k\", expected usize".to_owned()
            ),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|s| s.starts_with(
                "server.zz_probe: unknown key; expected one of `listen`, `public_url`"
            )),
            "{shown:#?}"
        );
    }

    #[test]
    fn a_value_that_is_no_table_is_said_so() {
        let mut p = Problems::default();
        assert!(table::<RawServer>(&mut p, "server", toml::Value::Integer(1)).is_none());
        let array = toml::Value::Array(vec![]);
        assert!(item::<RawServer>(&mut p, "source[0].users[0]", array).is_none());
        let shown: Vec<String> = p.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "server: must be a table; found an integer",
                "source[0].users[0]: must be a table; found an array"
            ]
        );
    }

    #[test]
    fn a_missing_required_key_is_reported_under_its_path() {
        let value: toml::Value = toml::from_str("kind = \"jwt\"\n").unwrap();
        let mut p = Problems::default();
        assert!(table::<RawSource>(&mut p, "source[0]", value).is_none());
        assert_eq!(p.0.len(), 1);
        assert_eq!(p.0[0].to_string(), "source[0].name: is required");
    }

    #[test]
    fn a_bad_nested_item_is_dropped_with_its_own_path() {
        let value: toml::Value = toml::from_str(
            r#"
name = "x"
kind = "jwt"
[[rules]]
expression = "true"
mesage = "typo"
[[rules]]
expression = "false"
message = "ok"
"#,
        )
        .unwrap();
        let mut p = Problems::default();
        let s = table::<RawSource>(&mut p, "source[0]", value).unwrap();
        assert_eq!(s.rules.len(), 1);
        assert_eq!(s.rules[0].message, "ok");
        let shown: Vec<String> = p.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "source[0].rules[0].mesage: unknown key; did you mean `message`?",
                "source[0].rules[0].message: is required"
            ]
        );
    }

    #[test]
    fn a_secret_of_the_wrong_shape_is_explained() {
        let value: toml::Value =
            toml::from_str("cookie_key = { vault = \"x\" }\npublic_url = \"https://a.test\"\n")
                .unwrap();
        let mut p = Problems::default();
        table::<RawServer>(&mut p, "server", value).unwrap();
        assert_eq!(
            p.0[0].to_string(),
            "server.cookie_key: a secret is a string, { env = \"NAME\" } or { file = \"PATH\" }"
        );
    }
}
