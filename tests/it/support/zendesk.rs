//! The independent checker of the JWTs zenbridge mints for Zendesk
//! (`tests/support/verify/verify-zendesk.mjs`, rules from
//! `/work/shared/spec/zendesk.md`).

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{manifest_dir, node_binary, require_node_modules};

/// Checks `jwt` as Zendesk's `surface` (`"sso"`, `"sdk"`, `"messaging"`,
/// `"chat"`) would, with `secret` (raw UTF-8) and, when given, the header
/// `kid` it must carry. Returns the checker's JSON:
/// `{"ok": true, "header": {…}, "payload": {…}, "warnings": […]}` or
/// `{"ok": false, "errors": ["…"], …}`. Panics only when the checker itself
/// cannot run. Blocking (~0.1 s): fine inside async tests.
pub fn verify_zendesk(jwt: &str, secret: &str, surface: &str, kid: Option<&str>) -> Value {
    let mut input = json!({ "jwt": jwt, "secret": secret, "surface": surface });
    if let Some(kid) = kid {
        input["kid"] = json!(kid);
    }
    run_verifier(&input)
}

/// [`verify_zendesk`] that panics with the checker's errors unless the token
/// passes; returns the token's payload.
pub fn assert_zendesk_ok(jwt: &str, secret: &str, surface: &str, kid: Option<&str>) -> Value {
    let result = verify_zendesk(jwt, secret, surface, kid);
    assert!(
        result["ok"] == true,
        "Zendesk ({surface}) would refuse this token:\n{}\n",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    result["payload"].clone()
}

/// Runs the checker with a full input object (see the script's header for
/// the optional `now` and `require` members).
pub fn run_verifier(input: &Value) -> Value {
    require_node_modules();
    let script = manifest_dir().join("tests/support/verify/verify-zendesk.mjs");
    let mut child = Command::new(node_binary())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{} {}`: {e}", node_binary(), script.display()));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write the verifier's input");
    let out = child.wait_with_output().expect("wait for the verifier");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "verify-zendesk.mjs failed to run (exit {code:?}):\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("verify-zendesk.mjs printed no JSON ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    })
}

/// Zendesk's users as its JWT sign-in finds and creates them
/// (`/work/shared/spec/zendesk.md`, identity rules): by `external_id`
/// first, then by email; an `external_id` held by another user, or a new
/// `external_id` for an email a user with another one holds, is refused
/// ("External has already been taken"), which is how a person's second
/// identity source breaks their sign-in.
#[derive(Debug, Default)]
pub struct ZendeskUsers {
    /// (external_id, email) per user, in creation order; the index is the id.
    users: Vec<(Option<String>, Option<String>)>,
}

impl ZendeskUsers {
    /// Signs in with a token that passed [`assert_zendesk_ok`]: the user's
    /// index, or Zendesk's error text.
    pub fn sign_in(&mut self, payload: &Value) -> Result<usize, String> {
        let ext = payload["external_id"].as_str().map(str::to_owned);
        let email = payload["email"].as_str().map(str::to_ascii_lowercase);
        if let Some(e) = &ext
            && let Some(i) = self.users.iter().position(|(x, _)| x.as_ref() == Some(e))
        {
            return Ok(i);
        }
        if let Some(m) = &email
            && let Some(i) = self.users.iter().position(|(_, y)| y.as_ref() == Some(m))
        {
            return match (&self.users[i].0, &ext) {
                (Some(held), Some(new)) if held != new => {
                    Err("External has already been taken".to_owned())
                }
                (None, Some(new)) => {
                    self.users[i].0 = Some(new.clone());
                    Ok(i)
                }
                _ => Ok(i),
            };
        }
        self.users.push((ext, email));
        Ok(self.users.len() - 1)
    }
}
