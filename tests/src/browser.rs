//! Running the browser scripts in `tests/browser/` (Node + playwright-core driving Debian's
//! headless Chromium) from Rust tests. Missing Node, Chromium or `node_modules` fail the
//! test loudly; the test command installs them.

use std::path::PathBuf;
use std::process::Command;

/// `tests/browser/`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Run `tests/browser/<script>` with `env`, panicking with its output if it fails.
pub async fn run(script: &str, env: &[(&str, String)]) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium not found at {chromium}: run the tests through ./infra/test.sh, which installs it"
    );
    assert!(
        dir().join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules missing: run the tests through ./infra/test.sh (npm ci)"
    );
    let script = dir().join(script);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = Command::new("node");
        c.arg(&script).current_dir(dir()).env("CHROMIUM", &chromium);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output()
    })
    .await
    .expect("join")
    .expect("node runs (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "browser script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// The value a script printed as `<key>=<value>` on a line of its own.
pub fn printed<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}
