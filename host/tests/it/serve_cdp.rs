//! Headless Chromium driven over the DevTools protocol through a pipe
//! (`--remote-debugging-pipe`: JSON messages ending in NUL on fds 3 and 4,
//! no WebSocket needed), so a test can read a live page's DOM as often as
//! it likes while the page follows its event stream (`--dump-dom` with a
//! virtual-time budget never returns while a stream is open).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Browser {
    child: Child,
    to: File,
    from: BufReader<File>,
    next: u64,
    session: String,
    _profile: tempfile::TempDir,
}

/// A pipe whose ends sit at fds >= 10, close-on-exec.
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe");
    let high = |fd: RawFd| {
        let h = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        unsafe { libc::close(fd) };
        h
    };
    (high(fds[0]), high(fds[1]))
}

impl Browser {
    /// Opens `url` in a fresh headless Chromium, 1280×900.
    pub fn open(url: &str) -> Browser {
        let profile = tempfile::Builder::new().prefix("baton-chromium-").tempdir().expect("tempdir");
        let (cmd_r, cmd_w) = pipe(); // we write commands, Chromium reads fd 3
        let (ev_r, ev_w) = pipe(); // Chromium writes fd 4, we read
        let bin = std::env::var("BATON_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let mut c = Command::new(&bin);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
            "--window-size=1280,900",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(cmd_r, 3) < 0 || libc::dup2(ev_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().unwrap_or_else(|e| panic!("cannot run {bin} ({e}): install it with ./setup.sh --deps"));
        unsafe {
            libc::close(cmd_r);
            libc::close(ev_w);
        }
        let mut b = Browser {
            child,
            to: unsafe { File::from_raw_fd(cmd_w) },
            from: BufReader::new(unsafe { File::from_raw_fd(ev_r) }),
            next: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = b.call("Target.createTarget", json!({ "url": "about:blank" }))["targetId"].clone();
        let session = b.call("Target.attachToTarget", json!({ "targetId": target, "flatten": true }))["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        b.session = session;
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        );
        b.call("Page.enable", json!({}));
        b.navigate(url);
        b
    }

    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait("the page to load", |b| b.eval("document.readyState") == "complete");
    }

    /// Sends one command and returns its result (events in between are dropped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to.write_all(&bytes).expect("send to chromium");
        loop {
            let mut buf = Vec::new();
            let n = self.from.read_until(0, &mut buf).expect("read from chromium");
            assert!(n > 0, "chromium closed its pipe");
            buf.pop();
            let reply: Value = serde_json::from_slice(&buf).expect("a json message");
            if reply["id"] == json!(id) {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expr: &str) -> Value {
        self.call("Runtime.evaluate", json!({ "expression": expr, "returnByValue": true }))["result"]["value"].clone()
    }

    /// The page's DOM as HTML.
    pub fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML").as_str().unwrap_or("").to_string()
    }

    /// Polls until `ok` holds (within a minute).
    pub fn wait(&mut self, what: &str, mut ok: impl FnMut(&mut Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The DOM once `ok` holds for it.
    pub fn wait_dom(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = self.dom();
            if ok(&last) {
                return last;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; the DOM:\n{last}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let data = self.call("Page.captureScreenshot", json!({ "format": "png" }))["data"].clone();
        let bytes = base64::engine::general_purpose::STANDARD.decode(data.as_str().expect("png data")).expect("base64");
        std::fs::write(path, bytes).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
