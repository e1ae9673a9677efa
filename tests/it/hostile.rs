//! The hostile-input corpus (`tests/data/hostile/`): every case of each
//! category is sent to the real `zenbridge` binary over HTTP, one gateway
//! per category, and its answer is checked against the expectation its
//! data line states (the documented `error_code` and status, or what must
//! be kept). Every mismatch is collected and the test fails with the whole
//! list. The per-category summary table in `docs/security.md` (between the
//! `hostile-corpus` markers) is computed by this run: with
//! `ZENBRIDGE_WRITE_DOCS=1` it is rewritten, otherwise it must equal the
//! committed one, so the page cannot go stale.
//!
//! - `tokens.jsonl`: one generator line per token (header, claims, how it
//!   is signed, what is done to it after), sent to `POST /sdk/{t}/jwt`.
//! - `claims.jsonl`: upstream claims bound for Zendesk; refused with their
//!   code, or minted exactly as the line says (the output JWT is decoded).
//! - `redirect_parts.json` (templates × hosts, all to be dropped) and
//!   `redirects.tsv` (hand-written, with the positive controls): each
//!   `return_to` through the chooser, a finished sign-in, a legacy app's
//!   relayed Zendesk JWT, the logout route's "Try again" link, and the
//!   logout redirect;
//!   `after_logout_urls.tsv`: the config's `after_logout_url`, judged by
//!   `zenbridge check`.
//! - `forms.jsonl`: bodies and headers of the token endpoints, CORS,
//!   markup in pages' URLs, rate-limit floods behind a trusted proxy.
//!
//! The fields of each file are described in `tests/data/hostile/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::common::{KeyServer, Process, TestKey, ec_key, now, rsa_key, run_binary, start_binary};
use crate::sso::{answer, client, field, get, post};
use crate::support::{free_port, links, manifest_dir, parse_post_form};

/// The `[server]` table every category starts from (the rate limit off:
/// one address sends every case).
const SERVER: &str = "[server]\nlisten = \"@LISTEN@\"\npublic_url = \"@URL@\"\ncookie_key = \"hostile-cookie-key-0123456789abcdef0123456789\"\nrate_limit_per_minute = 0\n";
const SDK_SECRET: &str = "hostile-sdk-secret-0123456789";
const LEGACY_SECRET: &str = "hostile-legacy-secret-0123456789abcdef";
const OUTSIDER_SECRET: &str = "hostile-outsider-secret-0123456789abcd";
const AFTER_LOGOUT: &str = "https://www.acme.test/#/signed-out";
const BEGIN: &str = "<!-- hostile-corpus:begin -->";
const END: &str = "<!-- hostile-corpus:end -->";

fn data(file: &str) -> PathBuf {
    manifest_dir().join("tests/data/hostile").join(file)
}

fn jsonl(file: &str) -> Vec<Value> {
    std::fs::read_to_string(data(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}: {e}: {l}")))
        .collect()
}

/// What `docs/errors.md` ("Summary") documents for a code: its status
/// and OAuth `error` on the bearer endpoints and on `/token`.
#[derive(Clone, Copy)]
struct Documented {
    status: (u16, u16),
    error: (&'static str, &'static str),
}

/// The summary table of `docs/errors.md`, read once: the expectations of
/// every case come from the page itself.
fn summary() -> &'static BTreeMap<String, Documented> {
    static TABLE: std::sync::OnceLock<BTreeMap<String, Documented>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let text = std::fs::read_to_string(manifest_dir().join("docs/errors.md")).unwrap();
        let text: &'static str = Box::leak(text.into_boxed_str());
        let pair = |cell: &'static str| {
            let mut it = cell.split(" / ").map(|c| c.trim().trim_matches('`'));
            let first = it.next().unwrap_or_default();
            (first, it.next().unwrap_or(first))
        };
        text.lines()
            .filter_map(|l| {
                let cells: Vec<&'static str> = l.split('|').map(str::trim).collect();
                let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                let (bearer, token) = pair(cells.get(2)?);
                let number = |s: &str| s.split(' ').next()?.parse::<u16>().ok();
                let status = (number(bearer)?, number(token).or(number(bearer))?);
                let error = pair(cells.get(3)?);
                Some((code.to_owned(), Documented { status, error }))
            })
            .collect()
    })
}

/// The status and OAuth `error` a case expecting `expect` must get: from
/// the summary for a code, 200 for "ok", the HTTP layer's for a
/// pseudo-code.
fn documented(expect: &str, token_endpoint: bool) -> (u16, Option<&'static str>) {
    let pseudo = match expect {
        "ok" | "cors_preflight" => Some(200),
        "method_not_allowed" => Some(405),
        "header_too_large" => Some(431),
        _ => None,
    };
    if let Some(status) = pseudo {
        return (status, None);
    }
    let d = summary()
        .get(expect)
        .unwrap_or_else(|| panic!("{expect} is not in docs/errors.md's summary"));
    if token_endpoint {
        (d.status.1, Some(d.error.1))
    } else {
        (d.status.0, Some(d.error.0))
    }
}

/// The pseudo-codes: answers of the HTTP layer (axum, hyper, the CORS
/// layer), which carry no `error_code`.
const PSEUDO: [&str; 3] = ["method_not_allowed", "header_too_large", "cors_preflight"];

/// One category's outcome.
#[derive(Default)]
struct Tally {
    cases: usize,
    refused: usize,
    kept: usize,
    mismatches: Vec<String>,
}

impl Tally {
    /// Records a case: `refusal` says whether its expectation is a refusal.
    fn record(&mut self, name: &str, refusal: bool, problem: Option<String>) {
        self.cases += 1;
        match problem {
            Some(p) => self.mismatches.push(format!("{name}: {p}")),
            None if refusal => self.refused += 1,
            None => self.kept += 1,
        }
    }
}

/// What is wrong with an answer for a case expecting `expect` (a code, a
/// pseudo-code or "ok"): its status, then its `error_code`.
fn check(expect: &str, token_endpoint: bool, got: &(u16, Value)) -> Option<String> {
    let (status, error) = documented(expect, token_endpoint);
    let code = got.1["error_code"].as_str().unwrap_or("-");
    // Pages carry the code only; JSON answers the OAuth word as well.
    let word = got.1.get("error").and_then(Value::as_str);
    if got.0 != status {
        Some(format!(
            "status {} (want {status}); {}",
            got.0,
            short(&got.1)
        ))
    } else if expect != "ok" && !PSEUDO.contains(&expect) && code != expect {
        Some(format!(
            "error_code {code} (want {expect}); {}",
            short(&got.1)
        ))
    } else if let (Some(want), Some(word)) = (error, word)
        && want != word
    {
        Some(format!("error {word} (want {want}); {}", short(&got.1)))
    } else {
        None
    }
}

fn short(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

/// The real binary with `config` (`@LISTEN@`, `@URL@` and `@DIR@`
/// replaced), `files` written into its temporary directory first.
async fn binary(config: &str, files: &[(&str, &str)]) -> (Process, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let text = config
        .replace("@LISTEN@", &listen)
        .replace("@URL@", &format!("http://{listen}"))
        .replace("@DIR@", dir.path().to_str().unwrap());
    let file = dir.path().join("zenbridge.toml");
    std::fs::write(&file, text).unwrap();
    let args = ["serve", "--config", file.to_str().unwrap()];
    let p = start_binary(&args, port, dir.path()).await;
    (p, dir)
}

async fn json_answer(resp: reqwest::Response) -> (u16, Value) {
    let (status, v) = crate::common::status_json(resp).await;
    (status.as_u16(), v)
}

/// The payload of a JWT the gateway minted (it signed it: no check here).
fn payload_of(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap_or_default()).unwrap_or_default()
}

// ---------------------------------------------------------------- values

/// Expands a data file's placeholders in a value: `@t±N` (now ± N, an
/// integer), `@s±N` (the same as a string), `@f±N` (the same plus half a
/// second, a float), `@null`, `@ISS:source`, `@repeat:c:N`, `@nest:N`
/// (N nested lists), `@list:N` (N strings); objects and lists recursively.
fn expand(v: &Value, issuers: &BTreeMap<&str, String>, t: i64) -> Value {
    match v {
        Value::String(s) => expand_str(s, issuers, t),
        Value::Array(a) => Value::Array(a.iter().map(|x| expand(x, issuers, t)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), expand(x, issuers, t)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn expand_str(s: &str, issuers: &BTreeMap<&str, String>, t: i64) -> Value {
    let offset = |rest: &str| rest.parse::<i64>().ok().map(|n| t + n);
    if s == "@null" {
        return Value::Null;
    }
    if let Some(name) = s.strip_prefix("@ISS:") {
        return json!(issuers[name]);
    }
    if let Some(at) = s.strip_prefix("@t").and_then(offset) {
        return json!(at);
    }
    if let Some(at) = s.strip_prefix("@s").and_then(offset) {
        return json!(at.to_string());
    }
    #[allow(clippy::cast_precision_loss)]
    if let Some(at) = s.strip_prefix("@f").and_then(offset) {
        return json!(at as f64 + 0.5);
    }
    if let Some(rest) = s.strip_prefix("@repeat:") {
        let (c, n) = rest.split_once(':').unwrap();
        return json!(c.repeat(n.parse().unwrap()));
    }
    if let Some(n) = s.strip_prefix("@nest:") {
        let mut v = json!(1);
        for _ in 0..n.parse::<usize>().unwrap() {
            v = json!([v]);
        }
        return v;
    }
    if let Some(n) = s.strip_prefix("@list:") {
        let n: usize = n.parse().unwrap();
        return Value::Array((0..n).map(|i| json!(format!("g{i}"))).collect());
    }
    json!(s)
}

/// `base` with `over` merged in: a `null` removes the key.
fn merged(base: &Map<String, Value>, over: Option<&Value>) -> Map<String, Value> {
    let mut out = base.clone();
    for (k, v) in over.and_then(Value::as_object).into_iter().flatten() {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hmac(alg: Algorithm, secret: &[u8], input: &str) -> String {
    jsonwebtoken::crypto::sign(input.as_bytes(), &EncodingKey::from_secret(secret), alg).unwrap()
}

// ---------------------------------------------------------------- tokens

/// The keys of the token category and the sources they belong to.
struct Keys {
    rsa: [TestKey; 2],
    ec: [TestKey; 2],
    pem: TestKey,
    twin: TestKey,
    firebase: TestKey,
    attacker: TestKey,
    attacker_server: KeyServer,
    servers: Vec<KeyServer>,
}

fn issuers() -> BTreeMap<&'static str, String> {
    let names = [
        "rsa", "ec", "pem", "twin", "legacy", "outsider", "app", "chatapp", "corp",
    ];
    let mut iss: BTreeMap<_, _> = names
        .into_iter()
        .map(|s| (s, format!("https://{s}.hostile.test")))
        .collect();
    let firebase = format!("https://securetoken.google.com/{FIREBASE_PROJECT}");
    iss.insert("firebase", firebase);
    iss
}

const FIREBASE_PROJECT: &str = "hostile-fb";

/// A `jwt` source named `name`, issuer `https://{name}.hostile.test`,
/// audience `zendesk`, with its `keys` line (a URL, a file, a secret).
fn jwt_source(name: &str, keys: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nkind = \"jwt\"\nissuer = \"https://{name}.hostile.test\"\n{keys}\naudiences = [\"zendesk\"]\n"
    )
}

fn tokens_config(k: &Keys) -> String {
    let jwks = |i: usize| format!("jwks_url = \"{}/jwks\"", k.servers[i].url);
    let firebase = format!(
        "[[source]]\nname = \"firebase\"\nkind = \"firebase\"\nproject_id = \"{FIREBASE_PROJECT}\"\nkeys_url = \"{}/certs\"\n",
        k.servers[3].url
    );
    let sources: String = [
        firebase,
        jwt_source("rsa", &jwks(0)),
        jwt_source("ec", &jwks(1)),
        jwt_source("twin", &jwks(2)),
        jwt_source("pem", "public_key_file = \"@DIR@/pem.pub\""),
        jwt_source("legacy", &format!("secret = \"{LEGACY_SECRET}\"")),
        jwt_source("outsider", &format!("secret = \"{OUTSIDER_SECRET}\"")),
    ]
    .concat();
    format!(
        r#"
{SERVER}
{sources}
[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["rsa", "ec", "twin", "pem", "legacy", "firebase"]

[[target]]
name = "elsewhere"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["outsider"]
"#
    )
}

impl Keys {
    async fn new() -> Self {
        let rsa = [rsa_key("r1"), rsa_key("r2")];
        let ec = [ec_key("e1"), ec_key("e2")];
        let twin = rsa_key("r1");
        let firebase = rsa_key("f1");
        let attacker = rsa_key("attacker");
        let servers = vec![
            KeyServer::start(&[&rsa[0], &rsa[1]]).await,
            KeyServer::start(&[&ec[0], &ec[1]]).await,
            KeyServer::start(&[&twin]).await,
            KeyServer::start(&[&firebase]).await,
        ];
        let attacker_server = KeyServer::start(&[&attacker]).await;
        Keys {
            rsa,
            ec,
            pem: rsa_key("p1"),
            twin,
            firebase,
            attacker,
            attacker_server,
            servers,
        }
    }

    /// The key a line names, with its default `alg` and `kid`.
    fn named(&self, name: &str) -> Option<(&TestKey, &'static str, Option<&str>)> {
        Some(match name {
            "rsa" => (&self.rsa[0], "RS256", Some("r1")),
            "ec" => (&self.ec[0], "ES256", Some("e1")),
            "pem" => (&self.pem, "RS256", None),
            "twin" => (&self.twin, "RS256", Some("r1")),
            "firebase" => (&self.firebase, "RS256", Some("f1")),
            _ => return None,
        })
    }

    /// A public key's bytes in `form`, as an attacker would feed them to
    /// HMAC.
    fn public_bytes(key: &TestKey, form: &str) -> Vec<u8> {
        let der = || {
            let body: String = key
                .public_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            STANDARD.decode(body).unwrap()
        };
        let param = |name: &str| {
            let jwk = serde_json::to_value(&key.jwk).unwrap();
            URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().unwrap_or_default())
                .unwrap()
        };
        match form {
            "pem" => key.public_pem.clone().into_bytes(),
            "cert" => key.cert_pem.clone().into_bytes(),
            "pem-trimmed" => key.public_pem.trim().as_bytes().to_vec(),
            "der" => der(),
            "jwk" => serde_json::to_vec(&key.jwk).unwrap(),
            "n" => param("n"),
            "point" => [vec![4], param("x"), param("y")].concat(),
            other => panic!("unknown key form {other}"),
        }
    }

    /// Makes the token a line describes.
    fn token(&self, case: &Value, t: i64, fed_back: &str) -> String {
        let iss = issuers();
        if let Some(raw) = case["raw"].as_str() {
            return raw.to_owned();
        }
        if case["sign"] == "fed-back" {
            return fed_back.to_owned();
        }
        let source = case["key"].as_str().unwrap_or("rsa");
        let named = self.named(source);
        let mut header = Map::new();
        header.insert(
            "alg".into(),
            json!(named.map_or("HS256", |(_, alg, _)| alg)),
        );
        if let Some(kid) = named.and_then(|(_, _, kid)| kid) {
            header.insert("kid".into(), json!(kid));
        }
        let header = expand(&Value::Object(merged(&header, case.get("header"))), &iss, t);
        let replaced = |text: &str| {
            text.replace("@NOW@", &t.to_string())
                .replace("@EXP@", &(t + 600).to_string())
                .replace("@ISS:rsa", &iss["rsa"])
                .replace("@ISS:outsider", &iss["outsider"])
        };
        let mut header_text = case["raw_header"]
            .as_str()
            .map_or_else(|| self.with_attacker(&header).to_string(), replaced)
            .into_bytes();
        let mut base = json!({
            "iss": iss[source], "aud": "zendesk", "sub": "u-1", "email": "ada@acme.test",
            "name": "Ada", "iat": t, "exp": t + 600,
        });
        if source == "firebase" {
            // A Firebase ID token: its project as the audience, and the
            // email vouched for (the trust model wants it).
            base["aud"] = json!(FIREBASE_PROJECT);
            base["email_verified"] = json!(true);
            base["auth_time"] = json!(t - 10);
        }
        let mut claims = merged(base.as_object().unwrap(), case.get("claims"));
        for i in 0..case["extra_claims"].as_u64().unwrap_or(0) {
            claims.insert(format!("x{i}"), json!(0));
        }
        let claims = expand(&Value::Object(claims), &iss, t);
        let mut payload_text = case["raw_payload"]
            .as_str()
            .map_or_else(|| claims.to_string(), replaced)
            .into_bytes();
        if let Some(h) = case["header_prefix_hex"].as_str() {
            header_text.splice(0..0, hex(h));
        }
        if let Some(h) = case["payload_prefix_hex"].as_str() {
            payload_text.splice(0..0, hex(h));
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&header_text),
            URL_SAFE_NO_PAD.encode(&payload_text)
        );
        let alg = header["alg"]
            .as_str()
            .unwrap_or_default()
            .parse::<Algorithm>();
        let sign = case["sign"].as_str().unwrap_or("key");
        let signature = match sign.split_once(':').unwrap_or((sign, "")) {
            ("none", _) => String::new(),
            ("garbage", _) => URL_SAFE_NO_PAD.encode("signature"),
            ("attacker", _) => jsonwebtoken::crypto::sign(
                input.as_bytes(),
                &self.attacker.encoding,
                Algorithm::RS256,
            )
            .unwrap(),
            ("hmac", form) => {
                let key = named.expect("hmac with a public key needs one").0;
                hmac(alg.unwrap(), &Self::public_bytes(key, form), &input)
            }
            ("hmac-secret", secret) => hmac(Algorithm::HS256, secret.as_bytes(), &input),
            ("key-as", a) => {
                let key = named.unwrap().0;
                jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, a.parse().unwrap())
                    .unwrap()
            }
            ("key", _) => match (named, source) {
                // A header `alg` that names no algorithm: signed with the
                // key's own, as a forger holding the key would.
                (Some((key, own, _)), _) => jsonwebtoken::crypto::sign(
                    input.as_bytes(),
                    &key.encoding,
                    alg.unwrap_or_else(|_| own.parse().unwrap()),
                )
                .unwrap(),
                (None, "outsider") => hmac(Algorithm::HS256, OUTSIDER_SECRET.as_bytes(), &input),
                (None, _) => hmac(Algorithm::HS256, LEGACY_SECRET.as_bytes(), &input),
            },
            (other, _) => panic!("unknown sign {other}"),
        };
        let token = format!("{input}.{signature}");
        mutate(&token, case["mutate"].as_array(), &input)
    }

    /// The header with the attacker's URL, JWK and certificate put in.
    fn with_attacker(&self, header: &Value) -> Value {
        let cert_der = {
            let body: String = self
                .attacker
                .cert_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            body
        };
        let mut h = header.as_object().cloned().unwrap_or_default();
        for v in h.values_mut() {
            if let Some(s) = v.as_str() {
                *v = match s {
                    "@ATTACKER_JWK@" => serde_json::to_value(&self.attacker.jwk).unwrap(),
                    "@ATTACKER_X5C@" => json!([cert_der]),
                    s => json!(s.replace("@ATTACKER@", &self.attacker_server.url)),
                };
            }
        }
        Value::Object(h)
    }
}

/// What a line's `mutate` does to a signed token.
fn mutate(token: &str, how: Option<&Vec<Value>>, input: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    for m in how.into_iter().flatten().filter_map(Value::as_str) {
        match m {
            "pad-header" => parts[0].push('='),
            "pad-signature" => parts[2].push_str("=="),
            "std-signature" | "std-header" => {
                let i = if m == "std-header" { 0 } else { 2 };
                let bytes = URL_SAFE_NO_PAD.decode(&parts[i]).unwrap();
                parts[i] = STANDARD.encode(bytes);
            }
            "space-inside" => parts[1].insert(4, ' '),
            "newline-inside" => parts[1].insert(4, '\n'),
            "extra-segment" => parts.push("AAAA".into()),
            "five-segments" => parts.extend(["AAAA".into(), "AAAA".into()]),
            "drop-signature-part" => {
                parts.pop();
            }
            "empty-header" => parts[0].clear(),
            "percent-dots" => return parts.join("%2E"),
            "swap-signature" => {
                let other = format!("{input}x");
                parts[2] = URL_SAFE_NO_PAD.encode(other.as_bytes());
            }
            other => panic!("unknown mutation {other}"),
        }
    }
    parts.join(".")
}

async fn sdk(url: &str, target: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/sdk/{target}/jwt"))
        .form(&[("user_token", token)])
        .send()
        .await
        .unwrap();
    json_answer(resp).await
}

async fn tokens() -> Tally {
    let keys = Keys::new().await;
    let pem = [("pem.pub", keys.pem.public_pem.as_str())];
    let (bin, _dir) = binary(&tokens_config(&keys), &pem).await;
    let t = now();
    let good = keys.token(&json!({"key": "rsa"}), t, "");
    let (status, minted) = sdk(&bin.url, "mobile", &good).await;
    assert_eq!(status, 200, "{minted}");
    let fed_back = minted["jwt"].as_str().unwrap().to_owned();
    let mut tally = Tally::default();
    for case in jsonl("tokens.jsonl") {
        let token = keys.token(&case, t, &fed_back);
        let got = sdk(&bin.url, "mobile", &token).await;
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        tally.record(name, expect != "ok", check(expect, false, &got));
    }
    let fetched = keys.attacker_server.fetch_count();
    if fetched != 0 {
        tally.mismatches.push(format!(
            "the attacker's key server was fetched {fetched} times (jku, x5u)"
        ));
    }
    tally
}

// ---------------------------------------------------------------- claims

fn claims_config() -> String {
    let secret = format!("secret = \"{LEGACY_SECRET}\"");
    let (app, chatapp) = (jwt_source("app", &secret), jwt_source("chatapp", &secret));
    let corp = jwt_source("corp", &secret);
    format!(
        r#"
{SERVER}
{app}[source.claims]
external_id = "has(claims.ext) ? claims.ext : 'app|' + claims.sub"
tags = "has(claims.tags) ? claims.tags : null"
role = "has(claims.role) ? claims.role : 'end_user'"
user_fields = "has(claims.uf) ? claims.uf : null"
phone = "has(claims.phone) ? claims.phone : null"

{chatapp}[source.claims]
external_id = "has(claims.ext) ? claims.ext : 'chat|' + claims.sub"

{corp}email_domains = ["acme.test", "*.acme.org"]

[[target]]
name = "mobile"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["app"]

[[target]]
name = "corp"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["corp"]

[[target]]
name = "messaging"
kind = "messaging"
key_id = "app_hostile"
secret = "hostile-messaging-secret-0123456789"
sources = ["chatapp"]
"#
    )
}

async fn claims() -> Tally {
    let (bin, _dir) = binary(&claims_config(), &[]).await;
    let iss = issuers();
    let t = now();
    let mut tally = Tally::default();
    for case in jsonl("claims.jsonl") {
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let target = case["target"].as_str().unwrap();
        let source = match target {
            "messaging" => "chatapp",
            "corp" => "corp",
            _ => "app",
        };
        let base = json!({
            "iss": iss[source], "aud": "zendesk", "sub": "u-7", "email": "ada@acme.test",
            "name": "Ada", "iat": t, "exp": t + 600,
        });
        let claims = expand(
            &Value::Object(merged(base.as_object().unwrap(), case.get("claims"))),
            &iss,
            t,
        );
        let token = crate::common::hs256(LEGACY_SECRET, &claims);
        let got = if target == "messaging" {
            let resp = reqwest::Client::new()
                .post(format!("{}/exchange/{target}", bin.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            json_answer(resp).await
        } else {
            sdk(&bin.url, target, &token).await
        };
        // A kept case: the minted claims are exactly the ones stated.
        let minted = payload_of(got.1["jwt"].as_str().unwrap_or_default());
        let want = expand(&case["minted"], &iss, t);
        let problem = check(expect, false, &got).or_else(|| {
            want.as_object()?
                .iter()
                .find(|(claim, value)| &&minted[claim.as_str()] != value)
                .map(|(claim, value)| {
                    let got = short(&minted[claim.as_str()]);
                    format!("minted {claim} = {got} (want {})", short(value))
                })
        });
        tally.record(name, expect != "ok", problem);
    }
    tally
}

// ------------------------------------------------------------- redirects

fn redirects_config() -> String {
    let directory = |name: &str, user: &str| {
        format!(
            "[[source]]\nname = \"{name}\"\nkind = \"dev\"\n[[source.users]]\nid = \"{user}\"\nemail = \"{user}@acme.test\"\nname = \"{user}\"\n"
        )
    };
    let (dev, dev2) = (directory("dev", "ada"), directory("dev2", "grace"));
    format!(
        r#"
{SERVER}
{dev}{dev2}
[[source]]
name = "legacy"
kind = "zendesk_jwt"
login_url = "https://legacy.acme.test/login"
secret = "{LEGACY_SECRET}"

[[target]]
name = "hc"
kind = "sso"
subdomain = "acme"
secret = "hostile-helpcenter-secret-0123456789"
sources = ["dev", "dev2", "legacy"]
return_to_hosts = ["support.acme.com"]
after_logout_url = "{AFTER_LOGOUT}"
access_url = "http://127.0.0.1:9/access/jwt"
"#
    )
}

/// A `return_to` case: the value as in the query string, and what must
/// be passed on (`None`: dropped).
struct Redirect {
    query: String,
    kept: Option<String>,
}

/// Every template × host of `redirect_parts.json` (to be dropped), then
/// the lines of `redirects.tsv`.
fn redirect_cases() -> Vec<Redirect> {
    let parts: Value =
        serde_json::from_str(&std::fs::read_to_string(data("redirect_parts.json")).unwrap())
            .unwrap();
    let strings = |k: &str| -> Vec<String> {
        parts[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let mut out = Vec::new();
    for template in strings("templates") {
        for host in strings("hosts") {
            out.push(Redirect {
                query: template.replace("{host}", &host),
                kept: None,
            });
        }
    }
    let tsv = std::fs::read_to_string(data("redirects.tsv")).unwrap();
    let iss = issuers();
    for line in tsv.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let value = |s: &str| {
            s.split("@repeat:")
                .enumerate()
                .fold(String::new(), |acc, (i, piece)| {
                    if i == 0 {
                        return piece.to_owned();
                    }
                    acc + expand_str(&format!("@repeat:{piece}"), &iss, 0)
                        .as_str()
                        .unwrap()
                })
        };
        out.push(Redirect {
            query: value(cols[1]),
            kept: (cols[0] == "keep").then(|| cols[2].to_owned()),
        });
    }
    out
}

/// The `return_to` carried by the link whose path holds `path`: `Err`
/// when no such link is on the page.
fn carried(page: &str, path: &str) -> Result<Option<String>, String> {
    let link = links(page)
        .into_iter()
        .find(|l| l.contains(path))
        .ok_or_else(|| format!("no link to {path}"))?;
    let url = url::Url::parse(&link).map_err(|e| format!("{link}: {e}"))?;
    Ok(url
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned()))
}

/// Checks one `return_to` on each route that takes it; `None` when all
/// five agree with the expectation. `jti` is fresh for this case.
async fn one_redirect(c: &reqwest::Client, url: &str, r: &Redirect, jti: &str) -> Option<String> {
    let value = url::form_urlencoded::parse(format!("return_to={}", r.query).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let echoed = |body: &str| {
        r.kept.is_none()
            && value.len() > 8
            && (body.contains(&value) || body.contains(&zenbridge::http::pages::escape(&value)))
    };
    let want = r.kept.as_deref();
    // 1. The remote login URL: the chooser's links.
    let chooser = get(c, format!("{url}/sso/hc/login?return_to={}", r.query)).await;
    match carried(&chooser.body, "/sso/hc/login/dev") {
        Ok(got) if got.as_deref() == want => {}
        Ok(got) => return Some(format!("chooser carries {got:?} (want {want:?})")),
        Err(e) => return Some(format!("chooser: {e} ({})", chooser.status)),
    }
    if echoed(&chooser.body) {
        return Some("echoed on the chooser".into());
    }
    // 2. A finished sign-in: the form posted to Zendesk.
    let start = get(c, format!("{url}/sso/hc/login/dev?return_to={}", r.query)).await;
    let Some((action, mut fields)) = parse_post_form(&start.body) else {
        return Some(format!("no user list ({})", start.status));
    };
    fields.push(("user".into(), "ada".into()));
    let done = post(c, &action, &fields).await;
    let Some((_, posted)) = parse_post_form(&done.body) else {
        return Some(format!("no form to Zendesk ({})", done.status));
    };
    if field(&posted, "return_to") != want {
        return Some(format!(
            "posted to Zendesk: {:?} (want {want:?})",
            field(&posted, "return_to")
        ));
    }
    if echoed(&done.body) {
        return Some("echoed on the page that posts to Zendesk".into());
    }
    // 3. A legacy app's Zendesk JWT sent to zenbridge with the value.
    let t = now();
    let legacy = crate::common::hs256(
        LEGACY_SECRET,
        &json!({"iat": t, "jti": jti, "email": "ada@acme.test", "name": "Ada"}),
    );
    let url_jwt = format!(
        "{url}/sso/hc/from/legacy/access/jwt?jwt={legacy}&return_to={}",
        r.query
    );
    let relayed = get(c, url_jwt).await;
    let Some((_, posted)) = parse_post_form(&relayed.body) else {
        return Some(format!(
            "legacy JWT: no form to Zendesk ({})",
            relayed.status
        ));
    };
    if field(&posted, "return_to") != want {
        let got = field(&posted, "return_to");
        return Some(format!("legacy JWT posted {got:?} (want {want:?})"));
    }
    if echoed(&relayed.body) {
        return Some("echoed on the legacy JWT's page".into());
    }
    // 4. The logout route's error page: its "Try again" link.
    let error = get(
        c,
        format!(
            "{url}/sso/hc/logout?kind=error&message=x&return_to={}",
            r.query
        ),
    )
    .await;
    match carried(&error.body, "/sso/hc/login") {
        Ok(got) if got.as_deref() == want => {}
        Ok(got) => {
            return Some(format!(
                "logout's Try again carries {got:?} (want {want:?})"
            ));
        }
        Err(e) => return Some(format!("logout error page: {e} ({})", error.status)),
    }
    if echoed(&error.body) {
        return Some("echoed on the logout error page".into());
    }
    // 5. The logout redirect goes to after_logout_url, whatever the query.
    let out = get(c, format!("{url}/sso/hc/logout?return_to={}", r.query)).await;
    if out.status != StatusCode::SEE_OTHER || out.location() != AFTER_LOGOUT {
        return Some(format!(
            "logout answered {} to {:?}",
            out.status,
            out.headers.get("location")
        ));
    }
    None
}

async fn redirects() -> Tally {
    let (bin, _dir) = binary(&redirects_config(), &[]).await;
    let cases = Arc::new(redirect_cases());
    let results = Arc::new(Mutex::new(vec![None; cases.len()]));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // A few browsers at once, each with its own cookies, one case at a time.
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (cases, results, next, url) = (
                cases.clone(),
                results.clone(),
                next.clone(),
                bin.url.clone(),
            );
            tokio::spawn(async move {
                let (c, _) = client();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(r) = cases.get(i) else { break };
                    let problem = one_redirect(&c, &url, r, &format!("case-{i}")).await;
                    results.lock().await[i] = Some(problem);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let mut tally = Tally::default();
    for (r, problem) in cases.iter().zip(results.lock().await.iter()) {
        let name = format!("return_to={}", r.query);
        tally.record(&name, r.kept.is_none(), problem.clone().flatten());
    }
    after_logout_urls(&mut tally);
    tally
}

/// `after_logout_urls.tsv`: each value as the target's `after_logout_url`,
/// judged by `zenbridge check`.
fn after_logout_urls(tally: &mut Tally) {
    let dir = tempfile::tempdir().unwrap();
    let tsv = std::fs::read_to_string(data("after_logout_urls.tsv")).unwrap();
    for line in tsv.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (expect, value) = line.split_once('\t').unwrap();
        let config = redirects_config()
            .replace(AFTER_LOGOUT, value)
            .replace("@LISTEN@", "127.0.0.1:1")
            .replace("@URL@", "http://127.0.0.1:1");
        let file = dir.path().join("zenbridge.toml");
        std::fs::write(&file, config).unwrap();
        let (code, out, err) = run_binary(&["check", "--config", file.to_str().unwrap()]);
        let named = format!("{out}{err}").contains("target[0].after_logout_url");
        let problem = match (expect, code, named) {
            ("refuse", 1, true) | ("keep", 0, false) => None,
            _ => Some(format!(
                "check exited {code}: {}",
                err.lines().take(3).collect::<Vec<_>>().join(" / ")
            )),
        };
        tally.record(
            &format!("after_logout_url = {value:?}"),
            expect == "refuse",
            problem,
        );
    }
}

// ------------------------------------------------------- forms, headers

fn forms_config() -> String {
    let legacy = jwt_source("legacy", &format!("secret = \"{LEGACY_SECRET}\""));
    let server = SERVER.replace(
        "rate_limit_per_minute = 0",
        &format!("rate_limit_per_minute = {FLOOD_LIMIT}"),
    );
    format!(
        r#"
{server}max_body_bytes = 16384
max_token_bytes = 8192
trusted_proxies = ["127.0.0.1/32"]

{legacy}
[[source]]
name = "dev"
kind = "dev"
[[source.users]]
id = "ada"
email = "ada@acme.test"
name = "Ada Lovelace"

[[target]]
name = "open"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["legacy"]

[[target]]
name = "locked"
kind = "sdk"
secret = "{SDK_SECRET}"
sources = ["legacy"]
allowed_ips = ["203.0.113.0/24", "2001:db8::/32"]

[[target]]
name = "msg"
kind = "messaging"
key_id = "app_hostile"
secret = "hostile-messaging-secret-0123456789"
sources = ["legacy"]
allowed_origins = ["https://www.acme.test"]
[target.claims]
external_id = "'legacy|' + claims.sub"

[[target]]
name = "hc"
kind = "sso"
subdomain = "acme"
secret = "hostile-helpcenter-secret-0123456789"
sources = ["dev"]
"#
    )
}

/// A line's text with `@TOKEN@` (a good token), `@BAD@` (one signed with
/// another secret) and `@TOKEN_PCT@` (the good one with every byte
/// percent-encoded) put in; a trailing `@REPEAT:c:N` becomes `c` N times.
fn filled(text: &str, good: &str, bad: &str) -> String {
    let pct: String = good.bytes().map(|b| format!("%{b:02X}")).collect();
    let text = text
        .replace("@TOKEN_PCT@", &pct)
        .replace("@TOKEN@", good)
        .replace("@BAD@", bad);
    match text.split_once("@REPEAT:") {
        Some((before, rest)) => {
            let (c, n) = rest.split_once(':').unwrap();
            format!("{before}{}", c.repeat(n.parse().unwrap()))
        }
        None => text,
    }
}

async fn one_form(url: &str, case: &Value, good: &str, bad: &str) -> Result<(u16, Value), String> {
    let method = reqwest::Method::from_bytes(case["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut target = format!("{url}{}", case["path"].as_str().unwrap());
    if let Some(q) = case["query"].as_str() {
        target = format!("{target}?{}", filled(q, good, bad));
    }
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .request(method, target);
    if let Some(ct) = case["content_type"].as_str() {
        req = req.header("content-type", ct);
    }
    for h in case["headers"].as_array().into_iter().flatten() {
        let value = filled(h[1].as_str().unwrap(), good, bad);
        let value = match value.strip_prefix("@HEX:") {
            Some(x) => reqwest::header::HeaderValue::from_bytes(&hex(x)).unwrap(),
            None => reqwest::header::HeaderValue::from_str(&value).unwrap(),
        };
        req = req.header(h[0].as_str().unwrap(), value);
    }
    let mut body = match case["body_hex"].as_str() {
        Some(x) => hex(x),
        None => filled(case["body"].as_str().unwrap_or_default(), good, bad).into_bytes(),
    };
    if let Some(n) = case["body_repeat"].as_u64() {
        body.extend(std::iter::repeat_n(b'a', usize::try_from(n).unwrap()));
    }
    if case["chunked"] == true {
        return chunked_post(url, &case["path"], &body).await;
    }
    if case["method"] == "POST" {
        req = req.body(body);
    }
    let resp = req.send().await.map_err(|e| format!("no answer: {e}"))?;
    let headers = format!("{:?}", resp.headers());
    let page = answer(resp).await;
    let never = case["never_contains"].as_str();
    if let Some(n) = never.filter(|n| page.body.contains(n) || headers.contains(n)) {
        return Err(format!("the answer holds {n:?}"));
    }
    // CORS: the origin allowed back, or none (`null`).
    if let Some(want) = case.get("allow_origin") {
        let got = page
            .headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok());
        if got != want.as_str() {
            return Err(format!("Access-Control-Allow-Origin {got:?} (want {want})"));
        }
    }
    // A page shows its code in the markup; a JSON answer has it as a field.
    let v = serde_json::from_str(&page.body).unwrap_or_else(|_| match page.error_code() {
        Some(code) => json!({"error_code": code}),
        None => json!({"raw": page.body}),
    });
    Ok((page.status.as_u16(), v))
}

/// POSTs `body` form-encoded in 4 KiB chunks (`Transfer-Encoding:
/// chunked`, no `Content-Length`) over a bare socket; the status and the
/// JSON answer.
async fn chunked_post(url: &str, path: &Value, body: &[u8]) -> Result<(u16, Value), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        path.as_str().unwrap()
    )
    .into_bytes();
    for chunk in body.chunks(4096) {
        request.extend(format!("{:x}\r\n", chunk.len()).bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    // The server may answer and close before reading it all.
    let _ = s.write_all(&request).await;
    let mut answer = Vec::new();
    let read = s.read_to_end(&mut answer);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:.200}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((
        status,
        serde_json::from_str(body).unwrap_or_else(|_| json!({"raw": body})),
    ))
}

/// The forms gateway's rate limit: above what the other cases send from
/// one address, below a flood's size.
const FLOOD_LIMIT: usize = 300;

/// A flood: requests whose `X-Forwarded-For` differs in what the client
/// wrote (`{i}` in the line's template) but not in the hop the trusted
/// proxy added. The first must be served, and one of the first
/// `2 × FLOOD_LIMIT + 2` must be `rate_limited` (the limit's window is a
/// fixed minute, which a flood may straddle once): rotating spoofed
/// entries does not buy requests. The answer is the first refusal.
async fn flood(url: &str, case: &Value, good: &str) -> Result<(u16, Value), String> {
    let c = reqwest::Client::new();
    let template = case["xff"].as_str().unwrap();
    let mut last = (0, Value::Null);
    for i in 0..2 * FLOOD_LIMIT + 2 {
        let resp = c
            .post(format!("{url}{}", case["path"].as_str().unwrap()))
            .header(
                "x-forwarded-for",
                template.replace("{i}", &format!("{:x}", i + 1)),
            )
            .form(&[("user_token", good)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        last = json_answer(resp).await;
        if i == 0 && last.0 != 200 {
            return Err(format!("the flood's first request was answered {}", last.0));
        }
        if last.0 != 200 {
            break;
        }
    }
    Ok(last)
}

/// The forms category's token: the legacy source's claims, signed with
/// `secret` (the source's own, or another for a forged one).
fn forms_token(secret: &str) -> String {
    let t = now();
    let claims = json!({
        "iss": "https://legacy.hostile.test", "aud": "zendesk", "sub": "u-9",
        "email": "ada@acme.test", "name": "Ada", "iat": t, "exp": t + 600,
    });
    crate::common::hs256(secret, &claims)
}

async fn forms() -> Tally {
    let (bin, _dir) = binary(&forms_config(), &[]).await;
    let (good, bad) = (forms_token(LEGACY_SECRET), forms_token(OUTSIDER_SECRET));
    let mut tally = Tally::default();
    for case in jsonl("forms.jsonl") {
        let name = case["name"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let on_token = case["path"] == "/token";
        // A preflight is refused by what it leaves out.
        let refusal = !matches!(expect, "ok" | "cors_preflight")
            || case.get("allow_origin").is_some_and(Value::is_null);
        let answer = if case.get("xff").is_some() {
            flood(&bin.url, &case, &good).await
        } else {
            one_form(&bin.url, &case, &good, &bad).await
        };
        let problem = match answer {
            Ok(got) => check(expect, on_token, &got),
            // The HTTP layer may answer 431 and close while the client is
            // still sending: a closed connection refuses as well.
            Err(e) if expect == "header_too_large" && e.starts_with("no answer") => None,
            Err(e) => Some(e),
        };
        tally.record(name, refusal, problem);
    }
    tally
}

// ------------------------------------------------------- the summary

/// The table `docs/security.md` holds between the markers.
fn table(rows: &[(&str, &str, &Tally)]) -> String {
    let head = "| category | data (`tests/data/hostile/`) | cases | refused with the documented code | kept as expected |\n|---|---|---:|---:|---:|\n";
    let body: String = rows
        .iter()
        .map(|(category, files, t)| {
            format!(
                "| {category} | {files} | {} | {} | {} |\n",
                t.cases, t.refused, t.kept
            )
        })
        .collect();
    format!("{head}{body}")
}

/// Writes (`ZENBRIDGE_WRITE_DOCS=1`) or checks the table in `doc`.
fn sync_docs(doc: &Path, table: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("{} has no {BEGIN} … {END} markers", doc.display()));
    };
    let current = &text[b + BEGIN.len()..e];
    let wanted = format!("\n{table}");
    if current == wanted {
        return Ok(());
    }
    if std::env::var("ZENBRIDGE_WRITE_DOCS").is_ok_and(|v| v == "1") {
        let new = format!("{}{wanted}{}", &text[..b + BEGIN.len()], &text[e..]);
        std::fs::write(doc, new).unwrap();
        return Ok(());
    }
    Err(format!(
        "the hostile-corpus table in {} is stale; regenerate it with\n  ZENBRIDGE_WRITE_DOCS=1 cargo nextest run --test it hostile\nwanted:\n{table}",
        doc.display()
    ))
}

/// Every case of every category against the real binary (one per
/// category, all four at once), then the summary table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus_is_refused_or_kept_as_the_contract_says() {
    let (tokens, claims, redirects, forms) = tokio::join!(tokens(), claims(), redirects(), forms());
    let rows = [
        ("tokens", "`tokens.jsonl`", &tokens),
        ("claims bound for Zendesk", "`claims.jsonl`", &claims),
        (
            "open redirects (`return_to` on the login, sign-in, legacy JWT and logout routes; `after_logout_url`)",
            "`redirect_parts.json`, `redirects.tsv`, `after_logout_urls.tsv`",
            &redirects,
        ),
        ("form bodies and headers", "`forms.jsonl`", &forms),
    ];
    let mut failures: Vec<String> = rows
        .iter()
        .flat_map(|(c, _, t)| t.mismatches.iter().map(move |m| format!("[{c}] {m}")))
        .collect();
    assert!(
        redirects.cases >= 300,
        "only {} redirect cases",
        redirects.cases
    );
    if failures.is_empty()
        && let Err(e) = sync_docs(&manifest_dir().join("docs/security.md"), &table(&rows))
    {
        failures.push(e);
    }
    assert!(
        failures.is_empty(),
        "{} of the hostile corpus failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// HTTP parameter pollution on `/token`: a proxy or WAF that checks the
/// first `subject_token` (or `audience`) while zenbridge took the last one
/// saw another request than the one served. RFC 6749 §3.1: a parameter is
/// sent once; a repeated one is `invalid_request`, whichever copy is good.
#[tokio::test]
async fn parameter_pollution_on_token_is_refused_with_request_invalid() {
    let (bin, _dir) = binary(&forms_config(), &[]).await;
    let good = forms_token(LEGACY_SECRET);
    let base = [
        ("grant_type", zenbridge::http::tokens::TOKEN_EXCHANGE),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("subject_token", good.as_str()),
        ("audience", "msg"),
    ];
    let c = reqwest::Client::new();
    let send = |extra: Option<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, &str)> = base.to_vec();
        form.extend(extra);
        c.post(format!("{}/token", bin.url)).form(&form).send()
    };
    let (status, body) = json_answer(send(None).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    for extra in [
        ("subject_token", "x.y.z"),
        ("audience", "open"),
        ("grant_type", "password"),
    ] {
        let (status, body) = json_answer(send(Some(extra)).await.unwrap()).await;
        assert_eq!(status, 400, "{extra:?}: {body}");
        assert_eq!(body["error"], "invalid_request", "{extra:?}: {body}");
        assert_eq!(body["error_code"], "request_invalid", "{extra:?}: {body}");
    }
}

/// Every code a line of the corpus expects is one `docs/errors.md`
/// documents (or a pseudo-code of the HTTP layer, or "ok"): a misspelt
/// expectation fails here instead of reading as a mismatch.
#[test]
fn every_code_the_corpus_expects_is_documented() {
    let errors = std::fs::read_to_string(manifest_dir().join("docs/errors.md")).unwrap();
    let documented: Vec<&str> = errors
        .lines()
        .filter_map(|l| l.strip_prefix("## `")?.strip_suffix('`'))
        .collect();
    assert!(documented.len() > 30, "{documented:?}");
    for file in ["tokens.jsonl", "claims.jsonl", "forms.jsonl"] {
        for case in jsonl(file) {
            let expect = case["expect"].as_str().unwrap();
            assert!(
                expect == "ok" || PSEUDO.contains(&expect) || documented.contains(&expect),
                "{file}: {}: {expect} is not documented",
                case["name"]
            );
        }
    }
}

/// The same pollution with headers: two `Authorization` lines on
/// `/exchange`, one good and one not, in either order. A proxy that
/// checks one while zenbridge reads the other would disagree about who
/// is asking; `Authorization` is not a list (RFC 9110 §5.3).
#[tokio::test]
async fn two_authorization_headers_on_exchange_are_refused_with_request_invalid() {
    let (bin, _dir) = binary(&forms_config(), &[]).await;
    let good = forms_token(LEGACY_SECRET);
    let c = reqwest::Client::new();
    let url = format!("{}/exchange/msg", bin.url);
    let once = c.post(&url).bearer_auth(&good).send().await.unwrap();
    assert_eq!(once.status(), 200);
    for pair in [[good.as_str(), "x.y.z"], ["x.y.z", good.as_str()]] {
        let resp = c
            .post(&url)
            .header("authorization", format!("Bearer {}", pair[0]))
            .header("authorization", format!("Bearer {}", pair[1]))
            .send()
            .await
            .unwrap();
        let (status, body) = json_answer(resp).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_code"], "request_invalid", "{body}");
    }
}
