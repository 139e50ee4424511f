//! A real OCI registry for the tests (Debian's `docker-registry`) on a free
//! loopback port with its own storage and config, stopped on drop; outside
//! clients (oras-py, skopeo) that are not baton; and a tiny fake registry
//! that serves exactly the bytes a test gives it (for what a real registry
//! refuses to store). A missing tool fails the test: run `./setup.sh --deps`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Fails the test when `program` is not installed.
#[track_caller]
pub fn require(program: &str) -> PathBuf {
    let found =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|p| p.is_file()));
    found.unwrap_or_else(|| panic!("`{program}` is not installed: run ./setup.sh --deps"))
}

/// A `docker-registry serve` process.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// An anonymous registry.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A registry that wants Basic auth as `user` / `password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Self {
        Self::launch(Some((user, password)))
    }

    fn launch(auth: Option<(&str, &str)>) -> Self {
        let bin = require("docker-registry");
        let dir = tempfile::Builder::new().prefix("baton-registry-").tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = auth {
            let htpasswd = require("htpasswd");
            let out = Command::new(htpasswd).args(["-Bbn", user, password]).output().expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).expect("write htpasswd");
            config += &format!(
                "auth:\n  htpasswd:\n    realm: baton-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("write config");
        let child = Command::new(bin)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("registry.log")).expect("log")))
            .spawn()
            .expect("start docker-registry");
        let registry = Self { child: Some(child), port, dir };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}: {}", self.host(), self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Stops the registry (its storage stays until drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn python() -> PathBuf {
    let venv = std::env::var_os("BATON_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/baton/venv")))
        .expect("HOME");
    let py = venv.join("bin/python3");
    let ok = Command::new(&py).args(["-c", "import oras.client"]).output().is_ok_and(|o| o.status.success());
    assert!(ok, "oras-py is not installed in {}: run ./setup.sh --deps", venv.display());
    py
}

/// Runs the oras-py client (`oras_client.py`) with `args`; panics on failure.
#[track_caller]
pub fn oras(args: &[&str], auth: Option<(&str, &str)>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/oras_client.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).args(args).env_remove("ORAS_USER");
    if let Some((u, p)) = auth {
        cmd.env("ORAS_USER", u).env("ORAS_PASSWORD", p);
    }
    let out = cmd.output().expect("run oras_client.py");
    assert!(out.status.success(), "oras {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `skopeo inspect --raw`: the manifest bytes exactly as the registry serves them.
#[track_caller]
pub fn skopeo_raw_manifest(reference: &str) -> Vec<u8> {
    let out: Output = Command::new(require("skopeo"))
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")])
        .output()
        .expect("run skopeo");
    assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A registry that answers `GET path` with the given bytes, and 404 otherwise.
/// Its thread lives until the test process ends.
pub fn fake_registry(routes: Vec<(String, &'static str, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &routes);
        }
    });
    host
}

fn answer(mut stream: TcpStream, routes: &[(String, &str, Vec<u8>)]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let (status, ctype, body) = match routes.iter().find(|(p, _, _)| *p == path) {
        Some((_, t, b)) => ("200 OK", *t, b.as_slice()),
        None => ("404 Not Found", "application/json", &br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#[..]),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)
}
