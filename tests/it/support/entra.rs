//! A loopback issuer shaped like Microsoft Entra ID's multi-tenant
//! endpoints (`tests/support/entra/entra.mjs`, Node's standard library):
//! `common`/`organizations` discovery stating the `{tenantid}` issuer
//! template, one key set for every tenant, tokens with `tid`, v2 and v1
//! issuers, and the authorization-code flow. No real tenant is used.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{manifest_dir, node_binary};

/// A running Entra-shaped issuer; dropping it stops the process.
pub struct Entra {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    child: Child,
    http: reqwest::Client,
}

/// Starts `node tests/support/entra/entra.mjs` on a free loopback port.
pub async fn start_entra() -> Entra {
    let script = manifest_dir().join("tests/support/entra/entra.mjs");
    let mut child = Command::new(node_binary())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node {}: {e}", script.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the Entra-shaped issuer did not start within 10 s")
        .expect("read its stdout")
        .expect("it exited before listening");
    let port: u16 = first
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
    Entra {
        base: format!("http://127.0.0.1:{port}"),
        child,
        http: reqwest::Client::new(),
    }
}

impl Entra {
    /// The v2 issuer template, as its discovery states it.
    pub fn issuer_template(&self) -> String {
        format!("{}/{{tenantid}}/v2.0", self.base)
    }

    /// The v2 issuer of `tid`.
    pub fn issuer(&self, tid: &str) -> String {
        format!("{}/{tid}/v2.0", self.base)
    }

    /// The v1 issuer of `tid` (`https://sts.windows.net/{tid}/` in Entra).
    pub fn v1_issuer(&self, tid: &str) -> String {
        format!("{}/sts/{tid}/", self.base)
    }

    /// `organizations`' discovery document URL.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/organizations/v2.0/.well-known/openid-configuration",
            self.base
        )
    }

    /// `claims` signed RS256 with the issuer's key, as given.
    pub async fn sign(&self, claims: &Value) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/_test/sign", self.base))
            .json(&json!({ "claims": claims }))
            .send()
            .await
            .expect("sign")
            .json()
            .await
            .expect("sign JSON");
        answer["jwt"].as_str().expect("jwt").to_owned()
    }

    /// The claims of whoever the next authorization signs in.
    pub async fn set_user(&self, claims: &Value) {
        let r = self
            .http
            .post(format!("{}/_test/user", self.base))
            .json(claims)
            .send()
            .await
            .expect("set user");
        assert!(r.status().is_success());
    }
}

impl Drop for Entra {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
    }
}
