//! A real SMTP server for email tests: `tests/support/smtp_server.py` (Python
//! aiosmtpd) run as a child process, plus the TLS material it serves, made with rcgen.
//!
//! The interpreter is `$SMTP_TEST_PYTHON` (`.ci/run` points it at its virtualenv,
//! target/ci-venv), else `python3` on the PATH when it can import aiosmtpd, else a
//! virtualenv under `target/` that the first test creates with `pip install aiosmtpd`
//! (so `cargo test` alone works on a fresh machine; never pip into the system Python,
//! which Debian refuses anyway). Missing python3, or no way to get aiosmtpd, is a test
//! failure naming the install command, never a silent skip.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde::Deserialize;

/// One message as the server received and parsed it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The raw DATA, as lettre encoded it.
    pub data: String,
    pub tls: bool,
    pub auth_user: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub message_id: Option<String>,
    pub content_type: String,
    /// The decoded text/plain part (line ends normalised to `\n` by [`Received::text`]).
    text: Option<String>,
    html: Option<String>,
}

impl Received {
    pub fn text(&self) -> String {
        self.text.clone().unwrap_or_default().replace("\r\n", "\n")
    }
    pub fn html(&self) -> String {
        self.html.clone().unwrap_or_default().replace("\r\n", "\n")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Starttls,
    ImplicitTls,
}

/// What the server offers.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// `(user, password)`: AUTH PLAIN/LOGIN offered and required.
    pub auth: Option<(String, String)>,
}

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    lines: Receiver<String>,
}

const PYTHON_HELP: &str = "the email tests run a real SMTP server: they need python3 with \
                           aiosmtpd in a virtualenv, made under target/ by the first test \
                           (Debian/Ubuntu: `sudo apt-get install python3-venv` first), or \
                           SMTP_TEST_PYTHON naming a python that has aiosmtpd";

impl SmtpServer {
    /// Starts the server; `tls` is the certificate and key for the TLS modes.
    pub fn start(options: &Options, tls: Option<&TlsFiles>) -> SmtpServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        // CI may have several Pythons; this picks the one aiosmtpd was installed into.
        let python = python();
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .arg("--tls")
            .arg(match options.mode {
                Mode::Plain => "none",
                Mode::Starttls => "starttls",
                Mode::ImplicitTls => "tls",
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if options.mode != Mode::Plain {
            let tls = tls.expect("a TLS mode needs certificate files");
            command
                .arg("--cert")
                .arg(&tls.chain)
                .arg("--key")
                .arg(&tls.key);
        }
        if let Some((user, password)) = &options.auth {
            command
                .arg("--user")
                .arg(user)
                .arg("--password")
                .arg(password);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} ({e}): {PYTHON_HELP}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("the SMTP test server did not start (exit {status:?}): {PYTHON_HELP}");
            }
        };
        let Some(port) = first
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the SMTP test server failed: {first}: {PYTHON_HELP}");
        };
        SmtpServer {
            child,
            port,
            lines: rx,
        }
    }

    /// Waits up to `timeout` for the next received message.
    pub fn next_message(&self, timeout: Duration) -> Option<Received> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("bad line from the SMTP server {line:?}: {e}")),
        )
    }

    /// Asserts nothing arrived (after a failed delivery).
    pub fn assert_no_message(&self) {
        if let Some(message) = self.next_message(Duration::from_millis(300)) {
            panic!("no message expected, got {message:?}");
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing stdin asks the server to stop; kill in case it does not.
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate it signed for `127.0.0.1` and `localhost`,
/// written as PEM files.
pub struct TlsFiles {
    _dir: tempfile::TempDir,
    /// The CA certificate: what `ca_file` points at.
    pub ca: PathBuf,
    /// The server certificate.
    pub chain: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn generate() -> TlsFiles {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "balance-alert test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "smtp.test");
        let server_cert = server_params
            .signed_by(&server_key, &ca_cert, &ca_key)
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let ca = write("ca.pem", &ca_cert.pem());
        let chain = write("server.pem", &server_cert.pem());
        let key = write("server.key", &server_key.serialize_pem());
        TlsFiles {
            _dir: dir,
            ca,
            chain,
            key,
        }
    }
}

/// The aiosmtpd version the tests are written against.
const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// A Python that can import aiosmtpd (see the module docs).
fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Ok(p) = std::env::var("SMTP_TEST_PYTHON") {
                return p;
            }
            let imports = |py: &str| {
                Command::new(py)
                    .args(["-c", "import aiosmtpd"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if imports("python3") {
                return "python3".into();
            }
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/smtp-test-venv");
            let venv_python = venv.join("bin/python3");
            let venv_python_str = venv_python.to_string_lossy().into_owned();
            if !imports(&venv_python_str) {
                let run = |cmd: &mut Command| {
                    let out = cmd
                        .output()
                        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {PYTHON_HELP}"));
                    assert!(
                        out.status.success(),
                        "setting up aiosmtpd in {} failed: {}\n{PYTHON_HELP}",
                        venv.display(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                };
                run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
                run(Command::new(&venv_python).args(["-m", "pip", "install", "--quiet", AIOSMTPD]));
            }
            venv_python_str
        })
        .clone()
}
