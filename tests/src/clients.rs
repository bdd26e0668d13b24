//! Finding and running the client tools: the Python clients' venv and kcat.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::process::{Output, run};

/// The Python interpreter of the venv holding the pinned Python clients
/// (`tests/python/requirements.txt`).
///
/// `FJORD_PYTHON` if set (`./scripts/test` sets it), else the venv `./scripts/test` creates
/// by default, `$HOME/.cache/fjord/venv/bin/python`. Panics, telling how to create it, if
/// it is missing: these tests never skip.
#[track_caller]
pub fn python() -> PathBuf {
    let (python, origin) = match std::env::var_os("FJORD_PYTHON") {
        Some(p) => (PathBuf::from(p), "FJORD_PYTHON"),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            (
                home.join(".cache/fjord/venv/bin/python"),
                "the default venv (FJORD_PYTHON is unset)",
            )
        }
    };
    assert!(
        python.exists(),
        "no Python with the Kafka clients: {} ({origin}) does not exist. Run ./scripts/test \
         once: it creates the venv from tests/python/requirements.txt and sets FJORD_PYTHON \
         (or create one yourself: python3 -m venv ~/.cache/fjord/venv && \
         ~/.cache/fjord/venv/bin/pip install -r tests/python/requirements.txt)",
        python.display()
    );
    python
}

/// The path of a script in `tests/python/`.
#[track_caller]
pub fn python_script(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name);
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

/// Runs `tests/python/<script> <args>` with [`python`] and returns its JSON summary (the
/// last stdout line that is a JSON object) with the whole output.
///
/// Panics, showing stdout and stderr, if the script exits non-zero, prints no summary, its
/// summary does not say `"ok": true`, or it runs longer than `timeout`.
#[track_caller]
pub fn run_python_check(
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> (serde_json::Value, Output) {
    let mut cmd = Command::new(python());
    cmd.arg("-u")
        .arg(python_script(script))
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = run(&mut cmd, None, timeout);
    let summary = output
        .stdout
        .lines()
        .rev()
        .map(str::trim)
        .filter(|line| line.starts_with('{'))
        .find_map(|line| serde_json::from_str::<serde_json::Value>(line).ok());
    let Some(summary) = summary else {
        panic!("{script} printed no JSON summary:\n{output}");
    };
    assert!(
        output.status.success() && summary["ok"] == serde_json::Value::Bool(true),
        "{script} reported failures:\n{}\n\n{output}",
        serde_json::to_string_pretty(&summary["failures"]).unwrap_or_default()
    );
    (summary, output)
}

/// The `kcat` binary: `FJORD_KCAT` if set, else `kcat` on `PATH`. Panics, telling how to
/// install it, if it is missing.
#[track_caller]
pub fn kcat() -> PathBuf {
    if let Some(path) = std::env::var_os("FJORD_KCAT") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "FJORD_KCAT={} does not exist",
            path.display()
        );
        return path;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kcat"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "kcat is not installed (not on PATH, FJORD_KCAT unset); run ./scripts/test, which \
             installs it, or `sudo apt-get install kcat`"
        )
    })
}

/// A `kcat` command for the broker at `bootstrap`, isolated from the user's kcat
/// configuration file and with a 15 s metadata timeout; add the mode and its options.
pub fn kcat_command(bootstrap: &str) -> Command {
    let mut cmd = Command::new(kcat());
    cmd.env_remove("KCAT_CONFIG")
        .args(["-F", "/dev/null", "-b", bootstrap, "-m", "15"]);
    cmd
}

/// A name no other test of this run uses: `<prefix>-<pid>-<millis>-<n>`, for topics and
/// groups.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{millis}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plugin built by `./scripts/build-plugins`: `FJORD_PLUGINS_DIR/<name>.wasm` (the test
/// command sets it), else `target/plugins/<name>.wasm`. Panics, telling how to build it, if
/// it is missing.
#[track_caller]
pub fn plugin_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("FJORD_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing: build the plugins with ./scripts/build-plugins (./scripts/test does)", path.display());
    path
}

/// An rdkafka consumer in a group of its own, reading `topic` from its beginning.
#[track_caller]
pub fn topic_reader(bootstrap: &str, topic: &str) -> rdkafka::consumer::BaseConsumer {
    use rdkafka::consumer::Consumer;
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap_or_else(|e| panic!("cannot create a consumer: {e}"));
    consumer.subscribe(&[topic]).unwrap_or_else(|e| panic!("cannot subscribe to {topic}: {e}"));
    consumer
}
