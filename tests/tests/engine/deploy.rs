//! The deployment files of deploy/: the configurations they give every process load, and the
//! Kubernetes manifests are valid for the Kubernetes API (the test script provides the
//! validator, `kubernetes-validate`, with the API's schemas).

use std::path::{Path, PathBuf};
use std::process::Command;

use gridd_tests::gridd_binary;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// `gridd --config <config> check-config`: its exit code and what it printed.
fn check_config(config: &Path) -> (Option<i32>, String) {
    let out = Command::new(gridd_binary()).arg("--config").arg(config).arg("check-config").output().expect("run gridd");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The `gridd.toml` the Kubernetes Secret holds (the block under `gridd.toml: |`).
fn kubernetes_gridd_toml() -> String {
    let manifest = std::fs::read_to_string(repo("deploy/kubernetes/30-gridd-config.yaml")).expect("read the config manifest");
    let block = manifest.split_once("gridd.toml: |\n").expect("the Secret has a gridd.toml").1;
    block.lines().map(|line| line.strip_prefix("    ").unwrap_or(line)).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_configurations_deploy_gives_every_process_load() {
    // Each file sits where the image puts it, next to the city files; here, beside a link to
    // the repository's city.
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(repo("config/xinyi"), dir.path().join("xinyi")).expect("link the city");
    // The deploy files serve TLS: certificates as make-dev-certs.sh makes them, where the
    // files expect them (check-config loads them).
    let tls = dir.path().join("tls");
    let made = Command::new("bash").arg(repo("deploy/make-dev-certs.sh")).arg(&tls).output().expect("run make-dev-certs.sh");
    assert!(made.status.success(), "make-dev-certs.sh: {}", String::from_utf8_lossy(&made.stderr));

    let compose = dir.path().join("compose.toml");
    std::fs::copy(repo("deploy/gridd-distributed.toml"), &compose).expect("copy the compose configuration");
    let (code, output) = check_config(&compose);
    assert_eq!(code, Some(0), "deploy/gridd-distributed.toml: {output}");

    let kubernetes = dir.path().join("kubernetes.toml");
    let text = kubernetes_gridd_toml();
    assert!(text.contains("city = \"/etc/gridd/xinyi/city.toml\""), "the Secret names the image's city: {text}");
    let here = dir.path().join("xinyi/city.toml").display().to_string();
    assert!(text.contains("cert = \"/etc/gridd/tls/tls.crt\""), "the Secret's gridd.toml serves TLS: {text}");
    let text = text.replace("/etc/gridd/xinyi/city.toml", &here).replace("/etc/gridd/tls", &tls.display().to_string());
    std::fs::write(&kubernetes, text).expect("write");
    let (code, output) = check_config(&kubernetes);
    assert_eq!(code, Some(0), "the Secret's gridd.toml: {output}");
    assert!(output.contains("TLS on both listeners"), "{output}");

    // A key that does not fit the certificate is found before a start.
    std::fs::copy(tls.join("client.key"), tls.join("tls.key")).expect("swap the key");
    let (code, output) = check_config(&compose);
    assert_eq!(code, Some(1), "a wrong key is refused: {output}");
    assert!(output.contains("tls.key"), "the error names the file: {output}");
}

/// Runs the validator on `files`: whether all are valid, and what it printed.
fn validate(files: &[PathBuf]) -> (bool, String) {
    let validator = std::env::var("GRIDD_TEST_KUBERNETES_VALIDATE")
        .expect("GRIDD_TEST_KUBERNETES_VALIDATE is not set: run the suite with tests/run.sh, which installs kubernetes-validate");
    let out = Command::new(validator).args(["--strict", "--quiet"]).args(files).output().expect("run kubernetes-validate");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_kubernetes_manifests_are_valid_for_the_kubernetes_api() {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(repo("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 9, "namespace, PostgreSQL, Kafka, configuration, four roles, disruption budgets: {manifests:?}");
    let (valid, output) = validate(&manifests);
    assert!(valid, "{output}");

    // The same check refuses a manifest with a misspelt field.
    let dir = tempfile::tempdir().expect("temp dir");
    let router = std::fs::read_to_string(repo("deploy/kubernetes/50-router.yaml")).expect("read");
    assert!(router.contains("replicas:"), "the router's Deployment sets its replicas");
    let broken = dir.path().join("router.yaml");
    std::fs::write(&broken, router.replacen("replicas:", "replica:", 1)).expect("write");
    let (valid, output) = validate(&[broken]);
    assert!(!valid, "a misspelt field is refused: {output}");
}
