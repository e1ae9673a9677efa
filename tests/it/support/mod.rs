//! Shared harness for zenbridge's integration tests: `mod support;` in a test
//! file, then `use support::*;`.
//!
//! - [`start_op`] / [`shared_op`]: a real OpenID Provider (Node
//!   `oidc-provider`, `tests/support/op/op.mjs`) on a free loopback port, and
//!   [`op_id_token`] to run its authorization-code + PKCE flow without a form.
//! - [`verify_zendesk`]: the independent Node checker of the JWTs we mint for
//!   Zendesk (`tests/support/verify/verify-zendesk.mjs`).
//! - [`start_redis`]: a throwaway `redis-server`; [`start_replica`],
//!   [`start_sentinel`] and [`start_redis_tls`] for failover and TLS;
//!   [`start_redis_persistent`] to restart one on its append-only file.
//! - [`start_postgres`]: a throwaway PostgreSQL server.
//! - [`start_haproxy`]: HAProxy in front of several replicas.
//! - [`start_firebase_emulator`] / [`shared_firebase_emulator`]: the real
//!   Firebase Auth emulator (`firebase-tools`, `tests/support/firebase`) as
//!   an upstream identity provider.
//! - [`start_entra`]: a loopback issuer shaped like Microsoft Entra ID's
//!   multi-tenant endpoints (Node, `tests/support/entra`).
//! - [`start_legacy_app`]: a legacy web app (Python, `tests/support/legacy`)
//!   with its own login session, Zendesk's JWT SSO protocol and a session
//!   check URL.
//! - [`faulty::FaultyKeyServer`]: a key server the test breaks on purpose
//!   (refused, hanging, 500, garbage) and mends.
//! - [`browser`] / [`follow`]: a cookie-keeping HTTP client that follows
//!   redirects and auto-submitting forms one hop at a time.
//!
//! Node modules (`tests/support/op`, `tests/support/firebase`) and
//! `redis-server` are installed by `scripts/test`.
//!
//! Only std, tokio, reqwest, serde_json, url, base64, tempfile and aws-lc-rs
//! are used. Not every test binary uses every helper, hence the `dead_code`
//! allowance.

mod browser;
pub mod chromium;
mod entra;
pub mod faulty;
mod firebase;
mod haproxy;
mod legacy;
mod postgres;
mod provider;
mod redis_server;
mod zendesk;

pub use browser::{browser, cookie_header, follow, links, parse_post_form};
pub use entra::{Entra, start_entra};
pub use firebase::{FirebaseEmulator, SHARED_FIREBASE_PROJECT, shared_firebase_emulator};
pub use haproxy::{Haproxy, start_haproxy};
pub use legacy::{LEGACY_JWT_SECRET, LegacyApp, LegacyOptions, start_legacy_app};
pub use postgres::start_postgres;
pub use provider::{
    CLIENT_ID, CLIENT_SECRET, Op, OpOptions, POST_CLIENT_ID, POST_CLIENT_SECRET, Pkce, decode_jwt,
    op_access_token, op_authorize, op_authorize_in, op_generate_keys, op_id_token, op_logout,
    op_redeem_code, op_revoke, shared_op, start_op, start_op_with,
};
pub use redis_server::{
    Redis, start_redis, start_redis_persistent, start_redis_tls, start_replica, start_sentinel,
    start_sentinel_with_password,
};
pub use zendesk::{ZendeskUsers, assert_zendesk_ok, verify_zendesk};

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;

/// The crate root (where Cargo.toml is).
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then
/// released). Another process may take it before you do: prefer binding
/// port 0 yourself where the program under test allows it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("cannot bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// The Node.js binary: `$ZENBRIDGE_TEST_NODE`, else `node` from `PATH`.
pub(crate) fn node_binary() -> String {
    std::env::var("ZENBRIDGE_TEST_NODE").unwrap_or_else(|_| "node".to_owned())
}

/// Panics with a how-to-fix message when the Node packages are not installed.
pub(crate) fn require_node_modules() {
    let marker = manifest_dir().join("tests/support/op/node_modules/oidc-provider/package.json");
    assert!(
        marker.exists(),
        "{} is missing: the Node test dependencies are not installed.\n\
         Run `scripts/test` (it installs them), or `npm ci --prefix tests/support/op`.",
        marker.display()
    );
}

/// Random bytes as unpadded base64url (state, nonce, PKCE verifier).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system random generator");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
