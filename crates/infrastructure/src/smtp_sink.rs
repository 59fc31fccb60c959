//! A real SMTP server for tests: `tests/support/smtp_sink.py` (aiosmtpd),
//! started on a free port and killed on drop. It answers each recipient as
//! its local part asks (`temp-fail…` 451, `perm-fail…` 550, …) and stores
//! what it accepts, parsed by Python's email package.

#![expect(
    clippy::unwrap_used,
    reason = "test support: failing loudly is the point"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The sink's script.
pub const SINK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/support/smtp_sink.py"
);
/// How to install what the sink needs.
pub const INSTALL: &str = "python3 -m pip install aiosmtpd==1.4.6";

/// Fails the test, with the install command, when python3 or aiosmtpd is missing.
pub fn require_aiosmtpd() {
    let output = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .unwrap_or_else(|error| {
            panic!("the SMTP tests need python3 ({error}); then run `{INSTALL}`")
        });
    assert!(
        output.status.success(),
        "the SMTP tests need aiosmtpd; run `{INSTALL}`\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A running `smtp_sink.py`, killed on drop.
pub struct Sink {
    child: Option<Child>,
    port: u16,
    idle_timeout: Option<f64>,
    out: TempDir,
}

impl Sink {
    pub fn start() -> Self {
        Self::launch(0, None, tempfile::tempdir().unwrap())
    }

    /// A sink that closes connections idle for `seconds`.
    pub fn closing_idle_after(seconds: f64) -> Self {
        Self::launch(0, Some(seconds), tempfile::tempdir().unwrap())
    }

    pub fn launch(port: u16, idle_timeout: Option<f64>, out: TempDir) -> Self {
        require_aiosmtpd();
        let mut command = Command::new("python3");
        command
            .arg(SINK)
            .args(["serve", "--port", &port.to_string(), "--out"])
            .arg(out.path());
        if let Some(seconds) = idle_timeout {
            command.args(["--idle-timeout", &seconds.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {SINK}: {error}"));
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(Duration::from_secs(15));
        let port = line
            .as_deref()
            .ok()
            .and_then(|line| line.trim().strip_prefix("port "))
            .and_then(|port| port.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the SMTP sink did not start (got {line:?}); is aiosmtpd installed? `{INSTALL}`"
            );
        };
        Self {
            child: Some(child),
            port,
            idle_timeout,
            out,
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server, dropping its connections, and starts a new one on
    /// the same port and folder.
    pub fn restart(self) -> Self {
        let mut old = self;
        old.stop();
        let (port, idle_timeout) = (old.port, old.idle_timeout);
        let out = std::mem::replace(&mut old.out, tempfile::tempdir().unwrap());
        Self::launch(port, idle_timeout, out)
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every accepted message, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The message in `path` as the sink's parser reads it.
pub fn parse_eml(path: &Path) -> Value {
    require_aiosmtpd();
    let output = Command::new("python3")
        .arg(SINK)
        .arg("parse")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "parsing {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
