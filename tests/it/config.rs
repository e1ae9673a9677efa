//! Config validation, in-process: one mistake is one problem under its own
//! key path (no problem that follows from another), file secrets are read
//! from the config file's folder, key and browser URLs are https (http only
//! on loopback), `strings.quote` is usable, and Redis over TLS is refused
//! at `check` rather than at start-up.

use std::path::Path;

use zenbridge::config::{self, Config, Problem, load_str};

const SERVER: &str = r#"
[server]
public_url = "https://sso.acme.test"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
"#;

/// A jwt source named "legacy" with `extra` added, and a target using it.
fn legacy(extra: &str) -> String {
    format!(
        r#"{SERVER}
[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
audiences = ["zendesk"]
{extra}
[source.claims]
external_id = "'legacy|' + claims.sub"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["legacy"]
"#
    )
}

const SECRET: &str = r#"secret = "legacy-shared-secret-0123456789abcdef""#;

/// The problems of an invalid config, as `check` prints them.
fn problems(text: &str) -> Vec<String> {
    problems_in(text, None)
}

fn problems_in(text: &str, base: Option<&Path>) -> Vec<String> {
    match load_str(text, base) {
        Ok(_) => panic!("the config is valid:\n{text}"),
        Err(p) => {
            for q in &p.0 {
                assert!(!q.path.is_empty(), "a problem without its key path: {q}");
            }
            p.0.iter().map(Problem::to_string).collect()
        }
    }
}

fn valid(text: &str) -> Config {
    load_str(text, None).unwrap_or_else(|p| panic!("invalid:\n{p}\n{text}"))
}

// ------------------------------------------------------- one problem each --

#[test]
fn an_unknown_server_key_is_the_only_problem_of_the_server() {
    let text = legacy(SECRET).replace(
        "[server]\n",
        "[server]\npublic_ulr = \"https://sso.acme.test\"\n",
    );
    assert_eq!(
        problems(&text),
        ["server.public_ulr: unknown key; did you mean `public_url`?"]
    );
}

#[test]
fn an_unknown_source_key_does_not_make_the_source_unknown_to_targets() {
    let text = legacy(&format!("{SECRET}\nisuer = \"https://legacy.acme.test\""));
    assert_eq!(
        problems(&text),
        ["source[0].isuer: unknown key; did you mean `issuer`?"]
    );
}

#[test]
fn an_unknown_key_far_from_any_lists_the_keys() {
    let p = problems(&legacy(&format!("{SECRET}\nzz_probe = 1")));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(
            "source[0].zz_probe: unknown key; expected one of `name`, `kind`, `label`, `issuer`"
        ),
        "{p:#?}"
    );
}

#[test]
fn a_source_refused_for_its_short_secret_is_still_known_to_targets() {
    let p = problems(&legacy(r#"secret = "123456789""#));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("source[0].secret: secret must be at least 10 characters; it has 9"),
        "{p:#?}"
    );
}

#[test]
fn a_target_naming_no_configured_source_lists_every_configured_one() {
    // "legacy" is refused (short secret) but configured: it is listed.
    let text = legacy(r#"secret = "123456789""#).replace(
        r#"sources = ["legacy"]"#,
        r#"sources = ["legacy", "legasy"]"#,
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p.contains(
            &r#"target[0].sources[1]: no source named "legasy" (sources: legacy)"#.to_owned()
        ),
        "{p:#?}"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_reported_under_its_key_alone() {
    let text = legacy(&format!("{SECRET}\nleeway = 5"))
        .replace("[server]\n", "[server]\nmax_token_bytes = \"16k\"\n");
    assert_eq!(
        problems(&text),
        [
            "server.max_token_bytes: invalid type: string \"16k\", expected usize",
            "source[0].leeway: invalid type: integer `5`, expected a string",
        ]
    );
}

#[test]
fn a_required_key_of_the_wrong_type_is_not_also_missing() {
    let text = legacy(SECRET).replace(
        r#"public_url = "https://sso.acme.test""#,
        "public_url = 443",
    );
    assert_eq!(
        problems(&text),
        ["server.public_url: invalid type: integer `443`, expected a string"]
    );
}

#[test]
fn a_secret_of_the_wrong_shape_is_explained_once() {
    let text = legacy(r#"secret = { vault = "legacy" }"#);
    assert_eq!(
        problems(&text),
        [r#"source[0].secret: a secret is a string, { env = "NAME" } or { file = "PATH" }"#]
    );
}

#[test]
fn a_bad_rule_is_reported_under_its_own_path() {
    let text = legacy(&format!(
        "{SECRET}\n[[source.rules]]\nexpresion = \"true\"\nmessage = \"m\"\n"
    ));
    assert_eq!(
        problems(&text),
        [
            "source[0].rules[0].expresion: unknown key; did you mean `expression`?",
            "source[0].rules[0].expression: is required",
        ]
    );
}

#[test]
fn a_refused_required_claim_is_not_also_reported_missing() {
    // A messaging target needs `external_id`; the source's is refused.
    let text = legacy(SECRET)
        .replace("'legacy|' + claims.sub", "'legacy|' + claim.sub")
        .replace(
            r#"kind = "sdk""#,
            "kind = \"messaging\"\nkey_id = \"app_64a1b2c3\"",
        );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("source[0].claims.external_id: CEL expression reads `claim`"),
        "{p:#?}"
    );
}

#[test]
fn a_misspelt_top_level_table_gets_a_suggestion() {
    let text = legacy(SECRET).replace("[server]", "[sever]");
    let p = problems(&text);
    assert!(
        p.contains(&"sever: unknown key; did you mean `server`?".to_owned()),
        "{p:#?}"
    );
}

// ------------------------------------------------------------ file secrets --

#[test]
fn a_relative_file_secret_is_read_from_the_config_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("secrets")).unwrap();
    std::fs::write(
        conf.join("secrets/legacy"),
        "legacy-shared-secret-from-a-file\n",
    )
    .unwrap();
    let file = conf.join("zenbridge.toml");
    std::fs::write(&file, legacy(r#"secret = { file = "secrets/legacy" }"#)).unwrap();
    // The tests run in the package's folder, which has no `secrets/legacy`.
    assert!(!Path::new("secrets/legacy").exists());
    let cfg = config::load_file(&file).unwrap_or_else(|p| panic!("{p}"));
    let config::SourceDetail::Jwt {
        keys: config::JwtKeys::Static { from, .. },
    } = &cfg.sources[0].detail
    else {
        panic!("{:?}", cfg.sources[0].detail)
    };
    assert_eq!(from, "secret");

    // An absolute path is used as it is.
    let absolute = conf.join("secrets/legacy");
    let text = legacy(&format!(
        "secret = {{ file = {:?} }}",
        absolute.to_str().unwrap()
    ));
    let elsewhere = tempfile::tempdir().unwrap();
    load_str(&text, Some(elsewhere.path())).unwrap_or_else(|p| panic!("{p}"));

    // A missing file is named by the path it was looked for at.
    let p = problems_in(
        &legacy(r#"secret = { file = "nope" }"#),
        Some(elsewhere.path()),
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    let expected = format!(
        "source[0].secret: cannot read secret file {}",
        elsewhere.path().join("nope").display()
    );
    assert!(p[0].starts_with(&expected), "{p:#?}");
}

// --------------------------------------------------------------------- URLs --

const HTTPS_ONLY: &str = "must be https (plain http is accepted only on loopback, for tests)";

fn jwks(url: &str) -> String {
    legacy(&format!("jwks_url = {url:?}"))
}

#[test]
fn key_urls_over_http_are_refused_off_loopback() {
    assert_eq!(
        problems(&jwks("http://keys.acme.test/jwks")),
        [format!("source[0].jwks_url: {HTTPS_ONLY}")]
    );
    assert_eq!(
        problems(&jwks("ftp://keys.acme.test/jwks")),
        [format!(
            "source[0].jwks_url: {HTTPS_ONLY}; found scheme \"ftp\""
        )]
    );
    for ok in [
        "https://keys.acme.test/jwks",
        "http://127.0.0.1:9/jwks",
        "http://127.3.2.1/jwks",
        "http://localhost:9/jwks",
        "http://[::1]:9/jwks",
    ] {
        valid(&jwks(ok));
    }
    // Not loopback, however it looks.
    for refused in [
        "http://128.0.0.1/jwks",
        "http://localhost.acme.test/jwks",
        "http://[::2]/jwks",
        "http://0.0.0.0/jwks",
    ] {
        assert_eq!(
            problems(&jwks(refused)),
            [format!("source[0].jwks_url: {HTTPS_ONLY}")],
            "{refused}"
        );
    }
}

fn oidc(extra: &str) -> String {
    format!(
        r#"{SERVER}
[[source]]
name = "idp"
kind = "oidc"
client_id = "zenbridge"
{extra}
[source.claims]
external_id = "claims.sub"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["idp"]
"#
    )
}

#[test]
fn oidc_issuer_and_discovery_url_over_http_are_refused_off_loopback() {
    // The discovery URL derived from a refused issuer is not refused again.
    assert_eq!(
        problems(&oidc(r#"issuer = "http://idp.acme.test""#)),
        [format!("source[0].issuer: {HTTPS_ONLY}")]
    );
    assert_eq!(
        problems(&oidc(
            "issuer = \"https://idp.acme.test\"\ndiscovery_url = \"http://idp.acme.test/.well-known/openid-configuration\""
        )),
        [format!("source[0].discovery_url: {HTTPS_ONLY}")]
    );
    assert_eq!(
        problems(&oidc(r#"issuer = "idp.acme.test""#)),
        ["source[0].issuer: not a URL (relative URL without a base)"]
    );
    valid(&oidc(r#"issuer = "http://127.0.0.1:4444""#));
    valid(&oidc(r#"issuer = "https://idp.acme.test""#));
}

#[test]
fn firebase_keys_url_over_http_is_refused_off_loopback() {
    let text = |keys_url: &str| {
        format!(
            r#"{SERVER}
[[source]]
name = "fb"
kind = "firebase"
project_id = "acme-app"
keys_url = {keys_url:?}
[source.claims]
external_id = "claims.sub"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["fb"]
"#
        )
    };
    assert_eq!(
        problems(&text("http://keys.acme.test/certs")),
        [format!("source[0].keys_url: {HTTPS_ONLY}")]
    );
    valid(&text("http://127.0.0.1:9/certs"));
}

fn sso(extra: &str) -> String {
    format!(
        r#"{SERVER}
[[source]]
name = "legacy"
kind = "jwt"
issuer = "https://legacy.acme.test"
audiences = ["zendesk"]
{SECRET}
[source.claims]
external_id = "claims.sub"

[[target]]
name = "help"
kind = "sso"
secret = "help-sso-secret-0123456789"
sources = ["legacy"]
subdomain = "acme"
{extra}
"#
    )
}

#[test]
fn browser_urls_of_sso_targets_over_http_are_refused_off_loopback() {
    assert_eq!(
        problems(&sso(r#"after_logout_url = "http://www.acme.test/bye""#)),
        [format!("target[0].after_logout_url: {HTTPS_ONLY}")]
    );
    assert_eq!(
        problems(&sso(
            r#"access_url = "http://acme.zendesk.test/access/jwt""#
        )),
        [format!("target[0].access_url: {HTTPS_ONLY}")]
    );
    valid(&sso(
        "after_logout_url = \"http://127.0.0.1:9/bye\"\naccess_url = \"http://localhost:9/access/jwt\"",
    ));
    valid(&sso(
        "after_logout_url = \"https://www.acme.test/bye\"\naccess_url = \"https://acme.zendesk.com/access/jwt\"",
    ));
}

#[test]
fn public_url_over_http_off_loopback_stays_a_warning() {
    let cfg = valid(&legacy(SECRET).replace("https://sso.acme.test", "http://sso.acme.test"));
    assert!(
        cfg.warnings.iter().any(|w| w.to_string()
            == "server.public_url: plain http on a non-loopback host: cookies are not Secure"),
        "{:?}",
        cfg.warnings
    );
    let cfg = valid(&legacy(SECRET).replace("https://sso.acme.test", "http://127.0.0.1:8080"));
    assert!(
        !cfg.warnings.iter().any(|w| w.path == "server.public_url"),
        "{:?}",
        cfg.warnings
    );
    assert_eq!(
        problems(&legacy(SECRET).replace("https://sso.acme.test", "ftp://sso.acme.test")),
        ["server.public_url: must be an https (or http) URL; found scheme \"ftp\""]
    );
}

// ---------------------------------------------------------------------- CEL --

#[test]
fn strings_quote_can_be_used_in_a_mapping() {
    let text = legacy(SECRET).replace(
        "external_id = \"'legacy|' + claims.sub\"",
        "external_id = \"'legacy|' + claims.sub\"\nname = \"strings.quote(claims.name)\"",
    );
    let cfg = valid(&text);
    let mapping = &cfg.targets[0].sources[0].mapping;
    let claims = serde_json::json!({"sub": "u1", "name": "Ada \"the\" Countess"});
    let out = mapping
        .evaluate(
            claims.as_object().unwrap(),
            &zenbridge::mapping::Vars::default(),
        )
        .unwrap();
    assert_eq!(out["name"], r#""Ada \"the\" Countess""#);
    assert_eq!(out["external_id"], "legacy|u1");
}

// -------------------------------------------------------------------- Redis --

fn redis(url: &str) -> String {
    legacy(SECRET).replace(
        "[server]",
        &format!("[state]\nbackend = \"redis\"\nredis_url = {url:?}\n\n[server]"),
    )
}

#[test]
fn redis_urls_are_one_server_tls_or_sentinel_and_never_shown() {
    assert_eq!(
        problems(&redis("http://:hunter2@redis.acme.test:6379")),
        [
            "state.redis_url: must be a redis://, rediss://, unix://, redis+unix:// or redis+sentinel:// URL; found scheme \"http\""
        ]
    );
    let p = problems(&redis("redis+sentinel://:hunter2@s1:x,s2/mymaster"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("state.redis_url: a sentinel's port must be a number"),
        "{p:?}"
    );
    assert!(!p[0].contains("hunter2"), "the URL's password is not shown");
    assert_eq!(
        problems(&redis("redis+sentinel://s1:26379")),
        [
            "state.redis_url: the master's name is missing; the form is redis+sentinel://[:password@]host:26379[,host:26379…]/master-name[/db]"
        ]
    );
    assert_eq!(
        problems(&redis("redis://127.0.0.1:6379").replace(
            "[server]",
            "redis_sentinel_password = \"sentinel-password-0123\"\n[server]"
        )),
        ["state.redis_sentinel_password: only used with a redis+sentinel:// URL"]
    );
    assert_eq!(
        problems(&redis("rediss+sentinel://s1:26379/mymaster")),
        [
            "state.redis_url: TLS to sentinels (rediss+sentinel://) is not supported: use redis+sentinel:// on a private network, or rediss:// to one server"
        ]
    );
    for ok in [
        "redis://:pw@127.0.0.1:6379/0",
        "rediss://:pw@redis.acme.test:6380/0",
        "unix:///run/redis.sock",
        "redis+unix:///run/redis.sock",
        "redis+sentinel://:pw@127.0.0.1:26379,[::1]:26380,localhost/mymaster/1",
    ] {
        let cfg = valid(&redis(ok));
        assert!(
            matches!(cfg.state.backend, config::StateBackend::Redis { .. }),
            "{ok}"
        );
        assert_eq!(state_warnings(&cfg), Vec::<String>::new(), "{ok}");
    }
}

/// The warnings about `[state]` (the test configs write their other
/// secrets in the file, which is warned about too).
fn state_warnings(cfg: &Config) -> Vec<String> {
    warnings(cfg)
        .into_iter()
        .filter(|w| w.starts_with("state."))
        .collect()
}

#[test]
fn plain_redis_off_loopback_is_warned_about() {
    for url in [
        "redis://:pw@redis.acme.test:6379/0",
        "redis://10.0.0.5:6379",
        "redis+sentinel://127.0.0.1:26379,10.0.0.7:26379/mymaster",
    ] {
        let cfg = valid(&redis(url));
        assert_eq!(
            state_warnings(&cfg),
            [
                "state.redis_url: plain redis:// to a non-loopback host: its password and the one-time records cross the network in clear; use rediss:// (with state.redis_ca_file) or a private network"
            ],
            "{url}"
        );
    }
}

#[test]
fn redis_tls_files_are_read_at_check_and_only_with_rediss() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("not-pem.txt"), "hello").unwrap();
    let with = |url: &str, extra: &str| {
        redis(url).replace(
            &format!("redis_url = {url:?}"),
            &format!("redis_url = {url:?}\n{extra}"),
        )
    };
    // A relative path is taken from the config's folder.
    let cfg = load_str(
        &with(
            "rediss://redis.acme.test:6380",
            "redis_ca_file = \"ca.pem\"",
        ),
        Some(dir.path()),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    match &cfg.state.backend {
        config::StateBackend::Redis { tls, .. } => assert!(tls.ca_pem.is_some()),
        config::StateBackend::Memory => panic!("redis expected"),
    }
    let p = problems_in(
        &with(
            "rediss://redis.acme.test:6380",
            "redis_ca_file = \"not-pem.txt\"\nredis_client_cert_file = \"ca.pem\"",
        ),
        Some(dir.path()),
    );
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("state.redis_ca_file: ")
            && p[0].ends_with("not-pem.txt holds no PEM block containing \"CERTIFICATE-----\""),
        "{p:?}"
    );
    assert_eq!(
        p[1],
        "state.redis_client_cert_file: redis_client_cert_file and redis_client_key_file go together: set both or neither"
    );
    assert_eq!(
        problems_in(
            &with("redis://127.0.0.1:6379", "redis_ca_file = \"ca.pem\""),
            Some(dir.path())
        ),
        ["state.redis_ca_file: only used with a rediss:// URL (TLS to one Redis server)"]
    );
    let missing = problems_in(
        &with(
            "rediss://redis.acme.test:6380",
            "redis_ca_file = \"nowhere.pem\"",
        ),
        Some(dir.path()),
    );
    assert!(
        missing[0].starts_with("state.redis_ca_file: cannot read "),
        "{missing:?}"
    );
}

// ------------------------------------------------------------ trust model --

fn warnings(cfg: &Config) -> Vec<String> {
    cfg.warnings.iter().map(Problem::to_string).collect()
}

#[test]
fn short_upstream_hmac_secret_is_refused() {
    let p = problems(&legacy(r#"secret = "legacy-secret-of-31-bytes-01234""#));
    assert_eq!(
        p,
        [
            "source[0].secret: an HMAC secret must be at least 32 bytes (RFC 7518 §3.2: as long as the hash) so it cannot be guessed offline from one token; it has 31"
        ]
    );
    let p = problems(&legacy(&format!("{SECRET}\nalgorithms = [\"HS512\"]")));
    assert!(p[0].contains("at least 64 bytes"), "{p:#?}");
}

#[test]
fn short_admin_token_is_refused() {
    let text = legacy(SECRET).replace(
        "[server]\n",
        "[server]\nadmin_token = \"admin-token-0123456789\"\n",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("server.admin_token: must be at least 32 bytes"),
        "{p:#?}"
    );
}

#[test]
fn trust_forwarded_for_says_what_replaces_it() {
    let text = legacy(SECRET).replace("[server]\n", "[server]\ntrust_forwarded_for = true\n");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("server.trust_forwarded_for: replaced by trusted_proxies"),
        "{p:#?}"
    );
    let text = legacy(SECRET).replace(
        "[server]\n",
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\", \"nope\"]\n",
    );
    assert_eq!(
        problems(&text),
        ["server.trusted_proxies[2]: not an address or CIDR range: \"nope\""]
    );
}

fn firebase_emulator(server: &str) -> String {
    format!(
        r#"{server}
[[source]]
name = "fb"
kind = "firebase"
project_id = "acme-mobile"
insecure_emulator = true
keys_url = "http://127.0.0.1:9/certs"
[source.claims]
external_id = "'fb|' + claims.sub"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["fb"]
"#
    )
}

#[test]
fn insecure_emulator_off_loopback_is_refused() {
    // Nothing in this test binary sets FIREBASE_AUTH_EMULATOR_HOST.
    assert!(std::env::var(config::EMULATOR_ENV).is_err());
    let p = problems(&firebase_emulator(SERVER));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("source[0].insecure_emulator: accepts UNSIGNED tokens, so it is refused unless server.listen and server.public_url are loopback"),
        "{p:#?}"
    );
    let local = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
cookie_key = "test-cookie-key-0123456789abcdef0123456789"
"#;
    let cfg = valid(&firebase_emulator(local));
    assert!(
        warnings(&cfg)
            .iter()
            .any(|w| w.contains("insecure_emulator: accepts UNSIGNED")),
        "{:#?}",
        warnings(&cfg)
    );
    // Loopback public_url but listening on every interface: refused too.
    let wide = local.replace("127.0.0.1:8080\"\npublic", "0.0.0.0:8080\"\npublic");
    assert_eq!(problems(&firebase_emulator(&wide)).len(), 1);
}

fn two_sources(a_id: &str, b_id: &str) -> String {
    format!(
        r#"{SERVER}
[[source]]
name = "a"
kind = "jwt"
issuer = "https://a.acme.test"
audiences = ["zendesk"]
{SECRET}
[source.claims]
external_id = "{a_id}"

[[source]]
name = "b"
kind = "jwt"
issuer = "https://b.acme.test"
audiences = ["zendesk"]
{SECRET}
[source.claims]
external_id = "{b_id}"

[[target]]
name = "mobile"
kind = "sdk"
secret = "mobile-sdk-secret-0123456789"
sources = ["a", "b"]
"#
    )
}

#[test]
fn external_ids_not_namespaced_apart_are_warned_about() {
    for (a, b, warned) in [
        ("claims.sub", "claims.sub", true),
        ("'a|' + claims.sub", "claims.sub", true),
        ("'acme' + claims.sub", "'acme|' + claims.sub", true),
        ("'a|' + claims.sub", "'a|' + string(claims.uid)", true),
        ("'a|' + claims.sub", "'b|' + claims.sub", false),
        ("\\\"a:\\\" + claims.sub", "'b:' + claims.sub", false),
    ] {
        let cfg = valid(&two_sources(a, b));
        let w = warnings(&cfg);
        let found = w.iter().any(|w| {
            w.starts_with("target[0].sources: sources \"a\" and \"b\" both map external_id")
        });
        assert_eq!(found, warned, "{a} / {b}: {w:#?}");
    }
}

#[test]
fn endpoints_are_checked_per_kind_and_widening_is_warned_about() {
    let with = |line: &str| {
        legacy(SECRET).replace(
            "sources = [\"legacy\"]\n",
            &format!("sources = [\"legacy\"]\n{line}\n"),
        )
    };
    assert_eq!(
        problems(&with("endpoints = [\"browser\"]")),
        [
            "target[0].endpoints[0]: a sdk target cannot be minted by \"browser\"; it can list: sdk, exchange, token"
        ]
    );
    assert_eq!(
        problems(&with("endpoints = [\"sdk\", \"webhook\"]")),
        [
            "target[0].endpoints[1]: unknown endpoint \"webhook\"; the endpoints are: browser, sdk, exchange, token"
        ]
    );
    assert_eq!(
        problems(&with("endpoints = []")),
        ["target[0].endpoints: an empty list mints nowhere; remove the key for the default"]
    );
    let cfg = valid(&with("endpoints = [\"sdk\", \"exchange\"]"));
    let w = warnings(&cfg);
    assert!(
        w.iter().any(|w| w.starts_with(
            "target[0].endpoints: \"exchange\" widens the sdk target beyond its default (sdk)"
        )),
        "{w:#?}"
    );
    assert_eq!(
        cfg.targets[0].endpoints,
        [
            zenbridge::target::Endpoint::Sdk,
            zenbridge::target::Endpoint::Exchange
        ]
    );
}

#[test]
fn allowed_roles_default_leaves_out_admin_and_listing_it_is_warned_about() {
    let cfg = valid(&legacy(SECRET));
    assert_eq!(cfg.targets[0].allowed_roles, ["end_user", "agent"]);
    assert!(warnings(&cfg).is_empty() || !warnings(&cfg).iter().any(|w| w.contains("admin")));
    let text = legacy(SECRET).replace(
        "sources = [\"legacy\"]\n",
        "sources = [\"legacy\"]\nallowed_roles = [\"end_user\", \"admin\", \"owner\"]\n",
    );
    assert_eq!(
        problems(&text),
        [
            "target[0].allowed_roles[2]: must be \"end_user\", \"agent\" or \"admin\"; found \"owner\""
        ]
    );
    let cfg = valid(&text.replace(", \"owner\"", ""));
    assert!(
        warnings(&cfg)
            .iter()
            .any(|w| w.starts_with("target[0].allowed_roles: allows \"admin\"")),
        "{:#?}",
        warnings(&cfg)
    );
}

#[test]
fn email_domains_must_be_domains() {
    assert_eq!(
        problems(&legacy(&format!(
            "{SECRET}\nemail_domains = [\"acme.com\", \"*.acme.org\", \"@acme.net\", \"localhost\"]"
        ))),
        [
            "source[0].email_domains[2]: must be a domain such as \"acme.com\" (or \"*.acme.com\" for its subdomains); found \"@acme.net\"; write \"acme.net\" (the domain alone, without \"@\")",
            "source[0].email_domains[3]: must be a domain such as \"acme.com\" (or \"*.acme.com\" for its subdomains); found \"localhost\"",
        ]
    );
}

#[test]
fn trusting_unverified_emails_is_warned_about_and_jwt_defaults_are_noted() {
    let cfg = valid(&legacy(&format!("{SECRET}\ntrust_unverified_email = true")));
    assert!(
        warnings(&cfg)
            .iter()
            .any(|w| w.starts_with("source[0].trust_unverified_email: emails this source does not mark verified reach Zendesk")),
        "{:#?}",
        warnings(&cfg)
    );
    let cfg = valid(&legacy(SECRET));
    let notes: Vec<String> = cfg.notes.iter().map(Problem::to_string).collect();
    assert!(
        notes.iter().any(|n| n
            .starts_with("source[0]: a jwt source's emails are taken as its issuer asserts them")),
        "{notes:#?}"
    );
}

#[test]
fn config_values_out_of_bounds_are_refused() {
    let p = problems(&legacy(&format!("{SECRET}\nkey_refresh_interval = \"0s\"")));
    assert_eq!(
        p,
        ["source[0].key_refresh_interval: must be from 1s to 1day; found 0s"]
    );
    let text = legacy(SECRET).replace(
        "[server]\n",
        "[server]\nmax_token_bytes = 10\nmax_body_bytes = 2000000000\nrequest_timeout = \"0s\"\n",
    );
    assert_eq!(
        problems(&text),
        [
            "server.request_timeout: must be from 1s to 5m; found 0s",
            "server.max_token_bytes: must be from 1024 to 1048576 bytes; found 10",
            "server.max_body_bytes: must be from 1024 to 16777216 bytes; found 2000000000",
        ]
    );
}

// ------------------------------------- what would fail at run time, as data --

/// An oidc source "idp" and an sso target "help", with `source` added to
/// the source, `claims` under `[source.claims]`, `target` added to the
/// target. The target's secret is `target_secret` (a TOML value).
fn case_config(source: &str, claims: &str, target: &str, target_secret: &str) -> String {
    format!(
        r#"{SERVER}
[[source]]
name = "idp"
kind = "oidc"
issuer = "https://idp.acme.test"
client_id = "zenbridge"
{source}
[source.claims]
external_id = "'idp|' + claims.sub"
{claims}

[[target]]
name = "help"
kind = "sso"
subdomain = "acme"
secret = {target_secret}
sources = ["idp"]
{target}
"#
    )
}

const TARGET_SECRET: &str = r#""help-sso-secret-0123456789""#;

/// One `check` case: where the snippet goes, the snippet, and the one
/// problem it must give (`None`: the config must load).
struct Case {
    at: At,
    snippet: &'static str,
    problem: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum At {
    Source,
    Claims,
    Rule,
    Target,
    TargetSecret,
}

fn run_case(c: &Case) -> Result<Config, Vec<String>> {
    let rule = format!(
        "[[source.rules]]\nexpression = {:?}\nmessage = \"m\"",
        c.snippet
    );
    let text = match c.at {
        At::Source => case_config(c.snippet, "", "", TARGET_SECRET),
        At::Claims => case_config("", c.snippet, "", TARGET_SECRET),
        // After the claims table, so the rule is the source's.
        At::Rule => case_config("", &rule, "", TARGET_SECRET),
        At::Target => case_config("", "", c.snippet, TARGET_SECRET),
        At::TargetSecret => case_config("", "", "", c.snippet),
    };
    load_str(&text, None).map_err(|p| p.0.iter().map(Problem::to_string).collect())
}

#[rustfmt::skip]
const RUNTIME_FAILURES: &[Case] = &[
    // CEL: functions and methods the interpreter does not have.
    Case { at: At::Claims, snippet: r#"email = "claims.email.toLowerCase()""#,
        problem: Some("source[0].claims.email: CEL expression calls the method `toLowerCase()`, which zenbridge's CEL does not have; did you mean `lowerAscii()`?") },
    Case { at: At::Claims, snippet: r#"name = "claims.name.upperascii()""#,
        problem: Some("source[0].claims.name: CEL expression calls the method `upperascii()`, which zenbridge's CEL does not have; did you mean `upperAscii()`?") },
    Case { at: At::Rule, snippet: "claims.groups.exists(g, g.startswith('zd-'))",
        problem: Some("source[0].rules[0].expression: CEL expression calls the method `startswith()`, which zenbridge's CEL does not have; did you mean `startsWith()`?") },
    // CEL: types that fail for every token.
    Case { at: At::Claims, snippet: r#"organization = "'legacy|' + claims.iat""#,
        problem: Some("source[0].claims.organization: fails on every token: `+` cannot combine a string and an int (tried with claims as providers send them: iat an int); convert the int with string(…), e.g. string(claims.iat)") },
    Case { at: At::Claims, snippet: r#"custom_role_id = "claims.email""#,
        problem: Some("source[0].claims.custom_role_id: fails on every token: the expression gives a string; the claim must be a whole number (tried with claims as providers send them: email a string); convert with int(…)") },
    Case { at: At::Claims, snippet: r#"tags = "claims.groups + 'vip'""#,
        problem: Some("source[0].claims.tags: fails on every token: `+` cannot combine a list and a string (tried with claims as providers send them: groups a list of strings); to add an item to a list, write list + [item]") },
    Case { at: At::Claims, snippet: r#"role = "claims.email_verified + 1 > 0 ? 'agent' : 'end_user'""#,
        problem: Some("source[0].claims.role: fails on every token: `+` cannot combine a bool and an int (tried with claims as providers send them: email_verified a bool)") },
    Case { at: At::Rule, snippet: "claims.email",
        problem: Some("source[0].rules[0].expression: fails on every token: the rule gives a string (tried with claims as providers send them: email a string); a rule must give a bool: compare, e.g. claims.x == 'y'") },
    Case { at: At::Rule, snippet: "size(claims.nickname) + 'x' == 'y'",
        problem: Some("source[0].rules[0].expression: fails on every token: `+` cannot combine an int and a string (tried with claims as providers send them: nickname a string); convert the int with string(…)") },
    Case { at: At::Claims, snippet: r#"name = "claims.custom_field * 2 + 'x'""#,
        problem: Some("source[0].claims.name: fails on every token: `*` cannot combine a string and an int (tried with claims as providers send them: custom_field of any type)") },
    // CEL: correct for real claim shapes, so never refused.
    Case { at: At::Claims, snippet: r#"organization = "'legacy|' + claims.num""#, problem: None },
    Case { at: At::Claims, snippet: r#"organization = "'legacy|' + string(claims.iat)""#, problem: None },
    Case { at: At::Claims, snippet: r#"name = "has(claims.nickname) ? claims.nickname : claims.email.split('@')[0]""#, problem: None },
    Case { at: At::Claims, snippet: r#"custom_role_id = "has(claims.role_id) ? claims.role_id : null""#, problem: None },
    Case { at: At::Claims, snippet: r#"locale_id = "int(claims.locale_id)""#, problem: None },
    Case { at: At::Claims, snippet: r#"name = "claims.sub.substring(0, 40)""#, problem: None },
    Case { at: At::Claims, snippet: r#"tags = "has(claims.groups) ? claims.groups.filter(g, g.startsWith('zd-')).map(g, g.substring(3)) : null""#, problem: None },
    Case { at: At::Claims, snippet: r#"role = "'support' in claims.groups ? 'agent' : 'end_user'""#, problem: None },
    Case { at: At::Claims, snippet: r#"user_fields = "{'plan': claims.plan, 'region': source.name, 'brand': request.brand_id}""#, problem: None },
    Case { at: At::Claims, snippet: r#"organization = "claims.realm_access.roles.exists(r, r == 'x') ? 'X' : null""#, problem: None },
    Case { at: At::Claims, snippet: r#"organization_id = "claims['https://acme.com/org_id']""#, problem: None },
    Case { at: At::Claims, snippet: r#"name = "claims.aud.size() > 0 ? claims.name : null""#, problem: None },
    Case { at: At::Rule, snippet: "claims.email_verified == 'true' || claims.email_verified == true", problem: None },
    Case { at: At::Rule, snippet: "claims.level >= 2", problem: None },
    // Host and domain lists: entries that can never match.
    Case { at: At::Target, snippet: r#"return_to_hosts = ["*.acme.com"]"#,
        problem: Some(r#"target[0].return_to_hosts[0]: must be a host name such as "help.acme.com"; found "*.acme.com"; hosts are compared exactly, with no wildcard: list each one, e.g. "help.acme.com""#) },
    Case { at: At::Target, snippet: r#"return_to_hosts = ["support.acme.com:443"]"#,
        problem: Some(r#"target[0].return_to_hosts[0]: must be a host name such as "help.acme.com"; found "support.acme.com:443"; write "support.acme.com" (without the port: a return_to is only accepted on https's default port)"#) },
    Case { at: At::Target, snippet: r#"return_to_hosts = ["https://help.acme.com"]"#,
        problem: Some(r#"target[0].return_to_hosts[0]: must be a host name such as "help.acme.com"; found "https://help.acme.com"; write "help.acme.com" (the host name alone, without https:// or a path)"#) },
    Case { at: At::Target, snippet: r#"return_to_hosts = ["Help.Acme.com", "support.acme.com"]"#, problem: None },
    Case { at: At::Source, snippet: r#"domains = ["@acme.org"]"#,
        problem: Some(r#"source[0].domains[0]: must be a domain such as "acme.com" (it also matches the domains under it); found "@acme.org"; write "acme.org" (the domain alone, without "@")"#) },
    Case { at: At::Source, snippet: r#"domains = ["*.acme.org"]"#,
        problem: Some(r#"source[0].domains[0]: must be a domain such as "acme.com" (it also matches the domains under it); found "*.acme.org"; write "acme.org" (a domain also matches the domains under it)"#) },
    Case { at: At::Source, snippet: r#"email_domains = ["@acme.org"]"#,
        problem: Some(r#"source[0].email_domains[0]: must be a domain such as "acme.com" (or "*.acme.com" for its subdomains); found "@acme.org"; write "acme.org" (the domain alone, without "@")"#) },
    Case { at: At::Source, snippet: r#"domains = ["acme.org", "EU.acme.org"]"#, problem: None },
    // Secrets that name a variable instead of reading it.
    Case { at: At::TargetSecret, snippet: r#""${ZENDESK_SSO_SECRET}""#,
        problem: Some(r#"target[0].secret: "${ZENDESK_SSO_SECRET}" looks like the name of the environment variable ZENDESK_SSO_SECRET, but a string is taken as the secret itself; write { env = "ZENDESK_SSO_SECRET" } to read the variable"#) },
    Case { at: At::TargetSecret, snippet: r#""$ZENDESK_SSO_SECRET""#,
        problem: Some(r#"target[0].secret: "$ZENDESK_SSO_SECRET" looks like the name of the environment variable ZENDESK_SSO_SECRET, but a string is taken as the secret itself; write { env = "ZENDESK_SSO_SECRET" } to read the variable"#) },
    Case { at: At::TargetSecret, snippet: r#""ZENDESK_SSO_SECRET""#,
        problem: Some(r#"target[0].secret: "ZENDESK_SSO_SECRET" looks like the name of the environment variable ZENDESK_SSO_SECRET, but a string is taken as the secret itself; write { env = "ZENDESK_SSO_SECRET" } to read the variable"#) },
    Case { at: At::TargetSecret, snippet: r#""{ env = \"ZENDESK_SSO_SECRET\" }""#,
        problem: Some(r#"target[0].secret: is a string holding a { env = … } or { file = … } table, so the text itself would be the secret; write the table without the quotes: { env = "ZENDESK_SSO_SECRET" }"#) },
    Case { at: At::TargetSecret, snippet: r#""ZENDESK-secret_0123456789""#, problem: None },
];

#[test]
fn what_would_fail_at_run_time_is_refused_at_check_with_the_form_that_works() {
    let mut wrong = Vec::new();
    for c in RUNTIME_FAILURES {
        let got = run_case(c);
        let as_expected = match (&got, c.problem) {
            (Ok(_), None) => true,
            (Err(p), Some(expected)) => p.len() == 1 && p[0] == expected,
            _ => false,
        };
        if !as_expected {
            wrong.push(format!(
                "{}\n  expected: {:?}\n  got:      {:?}",
                c.snippet,
                c.problem,
                got.map(|_| "loads")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_toml_syntax_error_says_where_and_shows_the_line() {
    let text = legacy(&format!("{SECRET}\nleeway = 60s"));
    let line = text.lines().position(|l| l == "leeway = 60s").unwrap() + 1;
    let Err(p) = load_str(&text, None) else {
        panic!("not valid TOML, yet loaded")
    };
    assert_eq!(p.0.len(), 1, "{p}");
    let shown = p.0[0].to_string();
    let mut lines = shown.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!("line {line}, column 10: not valid TOML: ")),
        "{shown}"
    );
    assert_eq!(
        lines.next(),
        Some(format!("    {line} | leeway = 60s").as_str())
    );
    assert_eq!(lines.next(), Some("       |          ^"), "{shown}");

    // From a file, the place is file:line:column.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("z.toml");
    std::fs::write(&file, &text).unwrap();
    let Err(p) = config::load_file(&file) else {
        panic!("loaded")
    };
    assert!(
        p.0[0]
            .to_string()
            .starts_with(&format!("{}:{line}:10: not valid TOML: ", file.display())),
        "{p}"
    );
}

// ------------------------------------------------------ key rotation keys --

/// The legacy config with its target made a messaging one with `keys`.
fn messaging_keys(keys: &str) -> String {
    legacy(SECRET).replace(
        "kind = \"sdk\"\nsecret = \"mobile-sdk-secret-0123456789\"",
        &format!("kind = \"messaging\"\n{keys}"),
    )
}

#[test]
fn messaging_keys_sign_with_the_first_and_list_the_rest() {
    let cfg = valid(&messaging_keys(
        r#"keys = [
  { id = "app_new", secret = "new-messaging-secret-0123456789" },
  { id = "app_old", secret = "old-messaging-secret-0123456789" },
]"#,
    ));
    let t = &cfg.targets[0];
    assert_eq!(t.key_id.as_deref(), Some("app_new"));
    assert_eq!(t.key_ids, ["app_new", "app_old"]);
    assert_eq!(t.secret.expose(), "new-messaging-secret-0123456789");
    let notes: Vec<String> = cfg.notes.iter().map(Problem::to_string).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("target[0].keys: signs with \"app_new\"")),
        "{notes:#?}"
    );
}

#[test]
fn messaging_keys_problems_each_under_their_key_path() {
    let eleven: Vec<String> = (0..11)
        .map(|i| format!("{{ id = \"app_{i}\", secret = \"messaging-secret-{i}-0123456789\" }}"))
        .collect();
    let cases: &[(String, &[&str])] = &[
        (
            messaging_keys("keys = []"),
            &["target[0].keys: lists no key; list the signing key first"],
        ),
        (
            messaging_keys(&format!("keys = [{}]", eleven.join(", "))),
            &["target[0].keys: lists 11 keys; Zendesk keeps at most 10 per messaging app"],
        ),
        (
            messaging_keys(
                r#"keys = [{ id = "app_a", secret = "messaging-secret-a-0123456789" }, { id = "app_a", secret = "messaging-secret-b-0123456789" }]"#,
            ),
            &["target[0].keys[1].id: \"app_a\" is also keys[0]"],
        ),
        (
            messaging_keys(
                r#"keys = [{ id = "app_a", secret = "messaging-secret-a-0123456789" }, { id = "app_b", secret = "messaging-secret-a-0123456789" }]"#,
            ),
            &["target[0].keys[1].secret: is the secret of keys[0] too; each key has its own"],
        ),
        (
            messaging_keys(
                r#"key_id = "app_a"
keys = [{ id = "app_a", secret = "messaging-secret-a-0123456789" }]"#,
            ),
            &["target[0].key_id: cannot be set with `keys`: the first of `keys` is the signing key"],
        ),
        (
            messaging_keys(r#"keys = [{ id = "app_a" }]"#),
            &["target[0].keys[0].secret: is required"],
        ),
        (
            // `keys` is a messaging key only.
            legacy(SECRET).replace(
                "sources = [\"legacy\"]",
                "sources = [\"legacy\"]\nkeys = [{ id = \"app_a\", secret = \"messaging-secret-a-0123456789\" }]",
            ),
            &["target[0].keys: not a key of a target of kind sdk"],
        ),
    ];
    for (text, expected) in cases {
        let p = problems(text);
        let want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(p, want, "{text}");
    }
}

#[test]
fn previous_cookie_key_is_checked_and_noted() {
    let with = |line: &str| legacy(SECRET).replace("[server]\n", &format!("[server]\n{line}\n"));
    let cfg = valid(&with(
        r#"previous_cookie_key = "the-old-cookie-key-0123456789abcdef0123""#,
    ));
    assert!(cfg.server.previous_cookie_key.is_some());
    assert!(
        cfg.notes
            .iter()
            .any(|n| n.path == "server.previous_cookie_key"),
        "{:#?}",
        cfg.notes
    );
    assert_eq!(
        problems(&with(r#"previous_cookie_key = "too-short-0123456789""#)),
        ["server.previous_cookie_key: must be at least 32 bytes; it has 20"]
    );
    assert_eq!(
        problems(&with(
            r#"previous_cookie_key = "test-cookie-key-0123456789abcdef0123456789""#
        )),
        [
            "server.previous_cookie_key: is the same as cookie_key: set cookie_key to the new key and this to the old one"
        ]
    );
}
