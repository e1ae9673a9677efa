//! The documentation is checked like code:
//! - `docs/errors.md` has one `` ## `code` `` section per
//!   [`ErrorCode`], and documents no code that does not exist;
//! - `config/zenbridge.example.toml` and every `config/examples/*.toml`
//!   pass `zenbridge check` (the real binary, with the secrets their
//!   `{ env = "…" }` name set for the child process only), and the
//!   reference config names every key the config parser knows;
//! - a deliberately broken copy of the reference config fails `check` with
//!   every problem listed under its key path, and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use zenbridge::error::ErrorCode;

/// The value every `{ env = "…" }` secret gets: long enough for the
/// cookie key (32 bytes), distinctive enough to search the output for.
const SECRET: &str = "docs-test-secret-0123456789abcdef0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reference_config() -> PathBuf {
    root().join("config/zenbridge.example.toml")
}

fn example_configs() -> Vec<PathBuf> {
    let dir = root().join("config/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no example config in {}", dir.display());
    files
}

// ------------------------------------------------------------ errors.md --

/// The codes of `docs/errors.md`'s sections: every line `` ## `code` ``.
fn documented_codes() -> Vec<String> {
    read(&root().join("docs/errors.md"))
        .lines()
        .filter_map(|l| l.strip_prefix("## `"))
        .map(|rest| {
            rest.split_once('`')
                .map_or(rest, |(code, _)| code)
                .to_owned()
        })
        .collect()
}

#[test]
fn errors_md_has_a_section_for_every_error_code() {
    let documented: BTreeSet<String> = documented_codes().into_iter().collect();
    let missing: Vec<&str> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !documented.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/errors.md has no `## `code`` section for: {missing:?}"
    );
}

#[test]
fn errors_md_documents_only_codes_that_exist_each_once() {
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let documented = documented_codes();
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|c| !known.contains(c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/errors.md documents codes zenbridge does not have: {unknown:?}"
    );
    let mut seen = BTreeSet::new();
    let twice: Vec<&String> = documented.iter().filter(|c| !seen.insert(*c)).collect();
    assert!(twice.is_empty(), "documented twice: {twice:?}");
}

// ------------------------------------------------------- example configs --

/// The environment variables a config's secrets name: every table
/// `{ env = "NAME" }` anywhere in it.
pub(crate) fn env_names(text: &str) -> BTreeSet<String> {
    fn walk(v: &toml::Value, out: &mut BTreeSet<String>) {
        match v {
            toml::Value::Table(t) => {
                if t.len() == 1
                    && let Some(toml::Value::String(name)) = t.get("env")
                {
                    out.insert(name.clone());
                }
                t.values().for_each(|v| walk(v, out));
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let table: toml::Table = toml::from_str(text).expect("the config is TOML");
    let mut out = BTreeSet::new();
    walk(&toml::Value::Table(table), &mut out);
    out
}

/// A value for each variable: a Redis URL for `…_URL` (the state store's
/// `redis_url` must parse as a URL), else [`SECRET`].
fn env_for(text: &str) -> Vec<(String, String)> {
    env_names(text)
        .into_iter()
        .map(|name| {
            let value = if name.ends_with("_URL") {
                "redis://127.0.0.1:6379/0".to_owned()
            } else {
                SECRET.to_owned()
            };
            (name, value)
        })
        .collect()
}

/// Runs `zenbridge check --config FILE` with exactly `env` as its
/// environment (nothing inherited, so a config cannot pass by accident).
fn check(file: &Path, env: &[(String, String)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zenbridge"))
        .arg("check")
        .arg("--config")
        .arg(file)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run zenbridge check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `check` passes, says so, and has nothing to warn about: the examples
/// are written the way the docs recommend (secrets from the environment,
/// https, no dev source), and print no secret.
fn assert_passes_check(file: &Path) {
    let text = read(file);
    let env = env_for(&text);
    let (code, out, err) = check(file, &env);
    let shown = file.strip_prefix(root()).unwrap_or(file).display();
    assert_eq!(code, 0, "{shown}: check failed\n{out}{err}");
    assert!(out.contains(": ok ("), "{shown}: {out}");
    assert!(
        !out.contains("warning:"),
        "{shown}: the example earns warnings:\n{out}"
    );
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "{shown}: check printed a secret"
    );
}

#[test]
fn reference_config_passes_check_as_it_stands() {
    assert_passes_check(&reference_config());
}

#[test]
fn every_example_config_passes_check() {
    for file in example_configs() {
        assert_passes_check(&file);
    }
}

#[test]
fn a_missing_secret_variable_is_named_by_check() {
    let file = reference_config();
    let env: Vec<(String, String)> = env_for(&read(&file))
        .into_iter()
        .filter(|(k, _)| k != "ZENDESK_SSO_SECRET")
        .collect();
    let (code, _, err) = check(&file, &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("target[0].secret: environment variable ZENDESK_SSO_SECRET is not set"),
        "{err}"
    );
}

#[test]
fn an_empty_secret_variable_is_named_as_set_but_empty() {
    let file = reference_config();
    let env: Vec<(String, String)> = env_for(&read(&file))
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "ZENDESK_SSO_SECRET" {
                String::new()
            } else {
                v
            };
            (k, v)
        })
        .collect();
    let (code, _, err) = check(&file, &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("target[0].secret: environment variable ZENDESK_SSO_SECRET is set but empty"),
        "{err}"
    );
}

/// The fields the parser accepts in one part of the config, read from the
/// problem `check` reports for an unknown key there (it lists them:
/// "part.zz: unknown key; expected one of `a`, `b`").
fn known_fields(part: &str, toml_text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    std::fs::write(&file, toml_text).unwrap();
    let (code, _, err) = check(&file, &[]);
    assert_eq!(code, 1, "{err}");
    let line = err
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(part) && l.contains(".zz_probe: unknown key; expected one of"))
        .unwrap_or_else(|| panic!("no unknown-field problem for {part} in:\n{err}"));
    let expected = line
        .split_once("expected")
        .expect("check lists the fields")
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn reference_config_names_every_key_the_parser_knows() {
    let probes = [
        ("server", "[server]\nzz_probe = 1\n"),
        ("state", "[state]\nzz_probe = 1\n"),
        (
            "source[0]",
            "[[source]]\nname = \"x\"\nkind = \"jwt\"\nzz_probe = 1\n",
        ),
        (
            "source[0]",
            "[[source]]\nname = \"x\"\nkind = \"dev\"\n[[source.users]]\nid = \"a\"\nzz_probe = 1\n",
        ),
        (
            "source[0]",
            "[[source]]\nname = \"x\"\nkind = \"jwt\"\n[[source.rules]]\nexpression = \"true\"\nmessage = \"m\"\nzz_probe = 1\n",
        ),
        (
            "target[0]",
            "[[target]]\nname = \"x\"\nkind = \"sdk\"\nzz_probe = 1\n",
        ),
    ];
    let text = read(&reference_config());
    // A key counts as named when a line, commented out or not, assigns
    // it, or a table header is named after it (`[source.claims]`).
    let named = |key: &str| {
        text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{key} ="))
                || l.contains(&format!(".{key}]"))
                || l.starts_with(&format!("[{key}]"))
        })
    };
    let mut missing = Vec::new();
    for (part, probe) in probes {
        let fields = known_fields(part, probe);
        assert!(!fields.is_empty(), "no field list for {part}");
        for f in fields {
            if !named(&f) {
                missing.push(format!("{part}: {f}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config/zenbridge.example.toml does not show these keys: {missing:?}"
    );
}

/// Replaces `from` (which must occur exactly once) by `to`.
fn break_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the reference config changed: {from:?} should occur once"
    );
    text.replacen(from, to, 1)
}

#[test]
fn broken_copy_of_the_reference_config_fails_with_every_problem_and_its_key_path() {
    let text = read(&reference_config());
    let broken = break_once(&text, r#"tags = "['staff']""#, r#"tags = "['staff'""#);
    let broken = break_once(&broken, r#"sources = ["auth0"]"#, r#"sources = ["auth00"]"#);
    let broken = break_once(
        &broken,
        "ttl = \"5m\"\n# Origins whose pages",
        "tll = \"5m\"\n# Origins whose pages",
    );
    let broken = break_once(
        &broken,
        r#"secret = { env = "ZENDESK_CHAT_SECRET" }"#,
        r#"secret = "123456789""#,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, &broken).unwrap();

    let (code, out, err) = check(&file, &env_for(&text));
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        "source[0].claims.tags: CEL syntax error",
        r#"target[0].sources[0]: no source named "auth00" (sources: auth0, firebase, legacy)"#,
        "target[2].tll: unknown key; did you mean `ttl`?",
        "target[3].secret: secret must be at least 10 characters; it has 9",
    ];
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in:\n{err}");
    }
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        problems.len(),
        expected.len(),
        "one problem each, nothing that follows from them:\n{err}"
    );
    assert!(err.contains("broken.toml: 4 problems"), "{err}");
    assert!(
        !err.contains("123456789\""),
        "a refused secret is not echoed:\n{err}"
    );
    assert!(!err.contains(SECRET) && !out.contains(SECRET));
}

// ------------------------------------------------------- zendesk-setup.md --

/// Each example config's header (its leading comment) names every
/// environment variable the config reads.
#[test]
fn every_example_config_header_lists_its_environment_variables() {
    for file in example_configs() {
        let text = read(&file);
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#') || l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        for name in env_names(&text) {
            assert!(
                header.contains(&name),
                "{}: its header does not list ${name}",
                file.display()
            );
        }
    }
}

/// The `[[source]]` blocks of each provider section in
/// `docs/zendesk-setup.md`, completed with a server and an `sdk` target,
/// pass `check`: every key exists, every CEL expression compiles.
#[test]
fn zendesk_setup_provider_sources_pass_check() {
    let doc = read(&root().join("docs/zendesk-setup.md"));
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(code, _)| code))
        .filter(|b| b.starts_with("[[source]]"))
        .collect();
    assert!(blocks.len() >= 6, "the provider sections: {}", blocks.len());
    let dir = tempfile::tempdir().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"'))
            .expect("a source name");
        let text = format!(
            "[server]\npublic_url = \"https://sso.acme.com\"\ncookie_key = {{ env = \"ZENBRIDGE_COOKIE_KEY\" }}\n\n{block}\n[[target]]\nname = \"mobile\"\nkind = \"sdk\"\nsecret = {{ env = \"ZENDESK_SDK_SECRET\" }}\nsources = [\"{name}\"]\n"
        );
        let file = dir.path().join(format!("provider-{i}.toml"));
        std::fs::write(&file, &text).unwrap();
        let (code, out, err) = check(&file, &env_for(&text));
        assert_eq!(code, 0, "source {name:?}:\n{text}\n{out}{err}");
    }
}

/// The lines of the "first sign-in" block of `docs/zendesk-setup.md`,
/// continuation lines joined.
fn first_sign_in_lines() -> Vec<String> {
    let doc = read(&root().join("docs/zendesk-setup.md"));
    let (_, after) = doc
        .split_once("<!-- tested: first sign-in")
        .expect("docs/zendesk-setup.md marks its first sign-in block");
    let (_, block) = after.split_once("```sh\n").expect("a sh block follows");
    let (block, _) = block.split_once("```").expect("the block ends");
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `docs/zendesk-setup.md`'s first sign-in, run as written: `init`,
/// the exports, `check --online`, `serve`, then the sign-in at the URL it
/// says to open — against the reference OpenID Provider in place of
/// "your provider", ending on a passing sandbox.
#[tokio::test]
async fn zendesk_setup_first_sign_in_runs_as_written() {
    let op = crate::support::shared_op().await;
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().unwrap();
    // What a reader types in place of the capitals, and a free port.
    let fill = |line: &str| {
        line.replace("https://YOUR-PROVIDER.example.com/", &op.issuer)
            .replace("YOUR-CLIENT-ID", crate::support::CLIENT_ID)
            .replace("YOUR-CLIENT-SECRET", crate::support::CLIENT_SECRET)
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
            .replace("you@example.com", "alice@acme.com")
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let mut server = None;
    let mut open = None;
    for line in first_sign_in_lines().iter().map(|l| fill(l)) {
        if let Some(url) = line.strip_prefix("# then open ") {
            open = Some(url.trim().to_owned());
        } else if let Some(assign) = line.strip_prefix("export ") {
            let (name, value) = assign.split_once('=').expect("NAME=value");
            let value = match value.strip_prefix("$(openssl rand -hex ") {
                Some(n) => {
                    let n: usize = n.trim_end_matches(')').parse().expect("a byte count");
                    crate::support::random_token(n)
                }
                None => value.to_owned(),
            };
            env.push((name.to_owned(), value));
        } else if let Some(args) = line.strip_prefix("zenbridge ") {
            let args: Vec<&str> = args.split_whitespace().collect();
            if args.first() == Some(&"serve") {
                let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zenbridge"));
                cmd.args(&args)
                    .current_dir(dir.path())
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
                    .kill_on_drop(true);
                server = Some(cmd.spawn().expect("zenbridge serve"));
                continue;
            }
            let out = Command::new(env!("CARGO_BIN_EXE_zenbridge"))
                .args(&args)
                .current_dir(dir.path())
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .expect("run zenbridge");
            assert!(
                out.status.success(),
                "`{line}` failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            panic!("a line the test does not know how to run: {line}");
        }
    }
    let _server = server.expect("the block runs zenbridge serve");
    let open = url::Url::parse(&open.expect("the block says what to open")).unwrap();
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(up, "serve never got ready:\n{}", log());
    // The browser: through the provider and back to /callback, whose page
    // posts the token to the sandbox.
    let browser = crate::support::browser();
    let (callback, _) = crate::support::follow(&browser, open, |u| u.path() == "/callback")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    let page = browser.get(callback).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let page = page.text().await.unwrap();
    let (action, fields) = crate::support::parse_post_form(&page)
        .unwrap_or_else(|| panic!("no form to the sandbox:\n{page}\n{}", log()));
    assert_eq!(
        action,
        format!("http://127.0.0.1:{port}/sandbox/helpcenter/access/jwt")
    );
    let sandbox = browser.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(sandbox.status(), reqwest::StatusCode::OK);
    let verdict = sandbox.text().await.unwrap();
    assert!(
        verdict.contains("data-verdict=\"pass\"") && !verdict.contains("class=\"fail\""),
        "the sandbox verdict:\n{verdict}"
    );
    assert!(verdict.contains("alice@acme.com"), "{verdict}");
}

/// The config and the app's change of "moving an existing Zendesk JWT
/// integration behind zenbridge" in `docs/zendesk-setup.md`.
fn moving_a_legacy_integration() -> (String, String) {
    let doc = read(&root().join("docs/zendesk-setup.md"));
    let (_, after) = doc
        .split_once("<!-- tested: moving a legacy integration")
        .expect("docs/zendesk-setup.md marks its legacy integration block");
    let (_, block) = after.split_once("```toml\n").expect("a toml block follows");
    let (config, rest) = block.split_once("```").expect("the block ends");
    let (_, change) = rest.split_once("```text\n").expect("the app's change");
    let after_line = change
        .lines()
        .find_map(|l| l.trim().strip_prefix("after:"))
        .expect("an after: line");
    let base = after_line
        .trim()
        .split_once("/access/jwt")
        .expect("the app keeps appending /access/jwt")
        .0
        .to_owned();
    (config.to_owned(), base)
}

/// `docs/zendesk-setup.md`'s move of a legacy integration, as written:
/// its config passes `check`; then, served with the app's secret and the
/// app changed as the page says (only the address), Zendesk's remote login
/// URL leads through the legacy app's login form and back to a token
/// Zendesk accepts.
#[tokio::test]
async fn zendesk_setup_moving_a_legacy_integration_runs_as_written() {
    let (config, base) = moving_a_legacy_integration();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("legacy.toml");
    std::fs::write(&file, &config).unwrap();
    let (code, out, err) = check(&file, &env_for(&config));
    assert_eq!(code, 0, "{config}\n{out}{err}");

    let app = crate::support::start_legacy_app(crate::support::LegacyOptions::default()).await;
    let sso_secret = "docs-zendesk-sso-secret-0123456789abcdef";
    let served = config
        .replace("https://sso.acme.com", "@URL@")
        .replace(
            "https://portal.acme.com/zendesk/sso",
            &app.url("/zendesk/sso"),
        )
        .replace(
            "{ env = \"PORTAL_JWT_SECRET\" }",
            &format!("\"{}\"", crate::support::LEGACY_JWT_SECRET),
        )
        .replace(
            "{ env = \"ZENDESK_SSO_SECRET\" }",
            &format!("\"{sso_secret}\""),
        )
        .replace(
            "{ env = \"ZENBRIDGE_COOKIE_KEY\" }",
            &format!("\"{SECRET}\""),
        );
    assert!(
        !served.contains("env ="),
        "every secret filled in:\n{served}"
    );
    let gw = crate::common::gateway(&served).await;
    app.configure(&serde_json::json!({
        "zendesk_url": base.replace("https://sso.acme.com", &gw.url)
    }))
    .await;
    // Zendesk's remote login URL (step 3), with what Zendesk adds.
    let b = crate::support::browser();
    let start =
        url::Url::parse(&format!("{}/sso/helpcenter/login?return_to=%2Fhc", gw.url)).unwrap();
    let (form, _) = crate::support::follow(&b, start, |u| u.path() == "/login")
        .await
        .unwrap();
    let back = crate::support::LegacyApp::log_in(&b, &form, "ada@example.com", "lovelace").await;
    let (arrival, _) = crate::support::follow(&b, back, |u| u.path().ends_with("/access/jwt"))
        .await
        .unwrap();
    assert!(arrival.as_str().starts_with(&format!(
        "{}/sso/helpcenter/from/portal/access/jwt?",
        gw.url
    )));
    let page = b.get(arrival).send().await.unwrap().text().await.unwrap();
    let (action, fields) =
        crate::support::parse_post_form(&page).unwrap_or_else(|| panic!("{page}"));
    assert_eq!(action, "https://acme.zendesk.com/access/jwt");
    let jwt = fields
        .iter()
        .find(|(k, _)| k == "jwt")
        .map(|(_, v)| v.as_str())
        .expect("a jwt field");
    let claims = crate::support::assert_zendesk_ok(jwt, sso_secret, "sso", None);
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["external_id"], "legacy-ada");
}

/// `docs/zendesk-setup.md`'s worked migration, as written: its config
/// passes `check`, its CSV imports, and a sign-in through the new tenant
/// (the reference OP in Auth0's place) is shown the portal's id by
/// `explain`.
#[tokio::test]
async fn zendesk_setup_worked_migration_runs_as_written() {
    let doc = read(&root().join("docs/zendesk-setup.md"));
    let (_, after) = doc
        .split_once("<!-- tested: worked migration")
        .expect("docs/zendesk-setup.md marks its worked migration");
    let (_, block) = after.split_once("```toml\n").expect("a toml block follows");
    let (config, rest) = block.split_once("```").expect("the block ends");
    let (_, csv) = rest.split_once("```csv\n").expect("a csv block follows");
    let (csv, _) = csv.split_once("```").expect("the csv block ends");
    let csv: String = csv.lines().map(|l| format!("{}\n", l.trim())).collect();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("links.db");
    let config = config.replace(
        "sqlite:/var/lib/zenbridge/links.db",
        &format!("sqlite:{}", db.display()),
    );
    let file = dir.path().join("zenbridge.toml");
    std::fs::write(&file, &config).unwrap();
    let env = env_for(&config);
    let (code, out, err) = check(&file, &env);
    assert_eq!(code, 0, "{config}\n{out}{err}");

    let users = dir.path().join("users.csv");
    std::fs::write(&users, &csv).unwrap();
    let run = |args: &[&str], config: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_zenbridge"))
            .args(args)
            .arg("--config")
            .arg(config)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run zenbridge");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        &[
            "links",
            "import",
            "--target",
            "helpcenter",
            users.to_str().unwrap(),
        ],
        &file,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imported 1 link into target \"helpcenter\""),
        "{out}"
    );

    // Ada's new account: the reference OP stands in for the Auth0 tenant.
    let op = crate::support::shared_op().await;
    let served = config
        .replace("https://acme.eu.auth0.com/", &op.issuer)
        .replace(
            "client_id = \"abc123\"",
            &format!("client_id = \"{}\"", crate::support::CLIENT_ID),
        );
    let served_file = dir.path().join("served.toml");
    std::fs::write(&served_file, &served).unwrap();
    let token = op
        .id_token_for(
            crate::support::CLIENT_ID,
            &serde_json::json!({ "sub": "auth0|ada", "email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace" }),
            &serde_json::json!({}),
        )
        .await;
    let (code, out, err) = run(
        &[
            "explain",
            "--target",
            "helpcenter",
            "--json",
            "--token",
            &token,
        ],
        &served_file,
    );
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["payload"]["external_id"], "legacy-ada", "{report}");
    assert!(
        report["link"]
            .as_str()
            .unwrap_or_default()
            .contains("link found"),
        "{report}"
    );
}
