//! `baton serve` and `baton run --serve` as a person uses them: a live run
//! watched in headless Chromium (each state as it happens, a log line as it
//! is printed), then the finished run read over plain HTTP without script
//! (artifact download, raw log, hostile text inert, nothing but GET, no path
//! outside the run's own lists), and the token rule for other addresses.

use std::path::PathBuf;

use crate::harness::Pipeline;
use crate::serve_cdp::Browser;
use crate::serve_http::{Process, dump_dom, element, free_port, get, request, screenshot};

/// A slow step (held until the test creates `go` in its workspace) that
/// publishes an artifact and emits `ready`; a step waiting on that signal;
/// a step behind the slow one (waiting on deps); a failing step with
/// hostile output; and a step after it (skipped).
const PIPELINE: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
[pipeline]
jobs = 4

[[boards.a.steps]]
name = "slow"
plugin = "probe"
emits = ["ready"]
with = { ops = [
  { op = "print", text = "first line from slow" },
  { op = "write", path = "out.txt", text = "artifact bytes 42" },
  { op = "put", name = "out.txt", path = "out.txt" },
  { op = "write", path = "results.xml", text = '<testsuite><testcase classname="t" name="passes" time="0.1"/><testcase classname="t" name="&lt;i&gt;fails" time="0.2"><failure message="expected 2"/></testcase></testsuite>' },
  { op = "put", name = "results.xml", path = "results.xml" },
  { op = "run", program = "sh", args = ["-c", "while [ ! -e go ]; do sleep 0.05; done"] },
  { op = "print", text = "second line after go" },
  { op = "emit", name = "ready" },
] }
[[boards.a.steps]]
name = "next"
plugin = "probe"
with = { ops = [{ op = "log", message = "next ran" }] }

[[boards.b.steps]]
name = "waiter"
plugin = "probe"
with = { ops = [{ op = "wait", names = ["a.slow/ready"] }, { op = "log", message = "got it" }] }

[[boards.c.steps]]
name = "broken"
plugin = "probe"
with = { ops = [
  { op = "print", text = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>" },
  { op = "fail", message = "<b id=\"pwn\">boom</b>" },
] }
[[boards.c.steps]]
name = "after-broken"
plugin = "probe"
with = { ops = [] }
"#;

/// Where the screenshots go: the build's temporary directory, so a test run
/// leaves the clone clean; `BATON_TEST_SCREENSHOTS=docs` (relative to the
/// repository) refreshes the pictures docs/serve.md shows.
fn docs() -> PathBuf {
    match std::env::var_os("BATON_TEST_SCREENSHOTS") {
        Some(d) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(d),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    }
}

/// The class list of the grid cell of `step`.
fn cell_class(dom: &str, step: &str) -> String {
    let el = element(dom, &format!("step-{step}"));
    el.split("class=\"").nth(1).and_then(|c| c.split('"').next()).unwrap_or("").to_string()
}

#[test]
fn a_run_is_watched_live_in_the_browser_then_read_without_script() {
    let p = Pipeline::new(PIPELINE);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = p.baton();
    cmd.args(["run", &format!("--serve={addr}")]);
    let mut run = Process::start(cmd);
    let line = run.line_with("watch this run at ");
    let url = line.split("watch this run at ").nth(1).expect("a URL").trim().to_string();
    let path = url.strip_prefix(&format!("http://{addr}")).expect("the URL is on the address").to_string();
    let run_id = path.rsplit('/').next().expect("an id").to_string();

    // The run page, opened at once, follows the run: the slow step holds,
    // the waiter waits on its signal, the broken step fails, the step after
    // it is skipped, the step behind the slow one waits on it.
    let mut page = Browser::open(&url);
    let dom = page.wait_dom("the waiter to wait and the broken step to fail", |d| {
        d.contains("class=\"cell c-waiting\" id=\"step-b.waiter\"")
            && d.contains("class=\"cell c-skipped\" id=\"step-c.after-broken\"")
            && d.contains("class=\"cell c-running\" id=\"step-a.slow\"")
    });
    assert_eq!(cell_class(&dom, "a.next"), "cell c-deps");
    assert_eq!(cell_class(&dom, "c.broken"), "cell c-failed");
    assert!(element(&dom, "step-b.waiter").contains("waiting on a.slow/ready"));
    assert!(dom.contains("id=\"status\">running<"), "{dom}");
    page.wait_dom("the elapsed time of the running step", |d| element(d, "step-a.slow").contains("running "));
    // Hostile output is text: no element of its making, no script run.
    assert!(dom.contains("&lt;b id=\"pwn\"&gt;boom&lt;/b&gt;"), "{dom}");
    assert_eq!(page.eval("document.querySelectorAll('#pwn, img, main script').length"), 0);
    assert_ne!(page.eval("document.title"), "pwned");
    page.screenshot(&docs().join("serve-running.png"));

    // The slow step's log page: the first line on open, the second appears
    // live once the step prints it.
    let mut log = Browser::open(&format!("http://{addr}/runs/{run_id}/log?step=a.slow"));
    let dom = log.dom();
    assert!(dom.contains("first line from slow") && !dom.contains("second line after go"), "{dom}");
    let go = p.dir().join(".baton/runs").join(&run_id).join("ws/a/go");
    std::fs::write(&go, "").expect("release the slow step");
    log.wait_dom("the live line", |d| d.contains("second line after go"));

    // Back on the run page, the rest happens as the stream says.
    let dom = page.wait_dom("the run to end", |d| d.contains("id=\"status\">failed<"));
    for (step, class) in [("a.slow", "cell c-ok"), ("b.waiter", "cell c-ok"), ("a.next", "cell c-skipped")] {
        assert_eq!(cell_class(&dom, step), class, "{step}");
    }
    drop((page, log));
    assert_eq!(run.wait(), 1, "the broken step fails the run");

    // The finished run, served by `baton serve`, read with a plain GET.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = p.baton();
    cmd.args(["serve", "--addr", &addr]);
    let server = Process::start(cmd);
    server.line_with("serving the runs");
    let index = get(&addr, "/");
    assert_eq!(index.status, 200);
    assert!(index.text().contains(&format!("href=\"/runs/{run_id}\"")), "{}", index.text());
    let page = get(&addr, &path);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = page.text();
    assert!(!html.contains("<script>") && !html.contains("onerror=\""), "no inline script: {html}");
    assert!(html.contains("data-live=\"0\""));
    for (step, class) in [
        ("a.slow", "cell c-ok"),
        ("a.next", "cell c-skipped"),
        ("b.waiter", "cell c-ok"),
        ("c.broken", "cell c-failed"),
        ("c.after-broken", "cell c-skipped"),
    ] {
        assert_eq!(cell_class(&html, step), class, "{step}");
    }
    let failures = html.split("id=\"failures\"").nth(1).expect("failures first").split("id=\"grid\"").next().unwrap();
    assert!(
        failures.contains("c.broken") && failures.contains("&lt;b id=&quot;pwn&quot;&gt;boom&lt;/b&gt;"),
        "{failures}"
    );
    assert!(failures.contains("&lt;img src=x onerror="), "the log tail, escaped: {failures}");
    assert!(html.find("id=\"failures\"") < html.find("id=\"grid\""), "failures come first");
    let finished = dump_dom(&format!("http://{addr}{path}"), 1000);
    assert!(finished.contains("id=\"status\">failed<"));
    screenshot(&format!("http://{addr}{path}"), &docs().join("serve-finished.png"), 1000);

    // Test results from the published JUnit file, failures first.
    let tests = html.split("id=\"tests\"").nth(1).expect("a test results section");
    let fails = tests.find("&lt;i&gt;fails").expect("the failed case, escaped");
    assert!(fails < tests.find(">passes<").expect("the passed case"), "failures first: {tests}");
    assert!(tests.contains("expected 2") && tests.contains("2 tests, 1 failed"), "{tests}");

    // The artifact: the right bytes, as an attachment.
    let link = format!("/runs/{run_id}/artifact?ref=a.slow%2Fout.txt");
    assert!(html.contains(&link.replace('&', "&amp;")), "{html}");
    let file = get(&addr, &link);
    assert_eq!((file.status, file.body.as_slice()), (200, b"artifact bytes 42".as_slice()));
    assert_eq!(file.header("content-disposition").as_deref(), Some("attachment; filename=\"out.txt\""));
    // The raw log and the log page.
    let raw = get(&addr, &format!("/runs/{run_id}/raw?step=a.slow"));
    assert!(raw.text().contains("second line after go"));
    assert!(raw.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let log_page = get(&addr, &format!("/runs/{run_id}/log?step=c.broken")).text();
    assert!(log_page.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"), "{log_page}");

    // Only what the run made, only by GET.
    for bad in [
        format!("/runs/{run_id}/raw?step=..%2F..%2F..%2Fbaton.toml"),
        format!("/runs/{run_id}/raw?step=%2Fetc%2Fpasswd"),
        format!("/runs/{run_id}/log?step=a.nope"),
        format!("/runs/{run_id}/artifact?ref=..%2Fstore"),
        format!("/runs/{run_id}/artifact?ref=a.slow%2F..%2F..%2Fbaton.toml"),
        "/runs/..%2F..%2Fbaton.toml".to_string(),
        format!("/runs/{}", &run_id[..8]),
        "/assets/..%2F..%2Fbaton.toml".to_string(),
    ] {
        let r = get(&addr, &bad);
        assert_eq!(r.status, 404, "{bad}: {}", r.text());
    }
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(request(&addr, method, &path, &[("Content-Length", "0")]).status, 405, "{method}");
    }
    assert_eq!(request(&addr, "HEAD", &path, &[]).status, 200);
    // A page on another site that rebinds its name to 127.0.0.1 is refused.
    assert_eq!(request(&addr, "GET", &path, &[("Host", "evil.example")]).status, 401);

    // The event stream resumes from an event id: from the start it
    // replays every step, from the last record nothing but the end.
    let all = get(&addr, &format!("/runs/{run_id}/events?from=0.0")).text();
    assert_eq!(all.matches("event: step").count(), 5, "{all}");
    assert!(all.contains("event: end"), "{all}");
    let last = all.lines().rev().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_string();
    let rest = request(&addr, "GET", &format!("/runs/{run_id}/events"), &[("Last-Event-ID", &last)]).text();
    assert_eq!(rest.matches("event: step").count(), 0, "{rest}");
    assert!(rest.contains("event: end"));
}

#[test]
fn another_address_than_loopback_needs_a_token() {
    let p = Pipeline::new(PIPELINE);
    let port = free_port();
    let out = p.baton().args(["serve", "--addr", &format!("0.0.0.0:{port}")]).output().expect("baton serve");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address") && err.contains("--token"), "{err}");
    let out =
        p.baton().args(["serve", "--addr", &format!("0.0.0.0:{port}"), "--token", "short"]).output().expect("serve");
    assert_eq!(out.status.code(), Some(2));

    let token = "0123456789abcdef0123";
    let mut cmd = p.baton();
    cmd.args(["serve", "--addr", &format!("0.0.0.0:{port}")]).env("BATON_SERVE_TOKEN", token);
    let server = Process::start(cmd);
    let line = server.line_with("to log in");
    let login = line.split("open ").nth(1).and_then(|l| l.split(' ').next()).expect("a login URL").to_string();
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(get(&addr, "/").status, 401);
    assert_eq!(request(&addr, "GET", "/", &[("Authorization", "Bearer wrong-token-wrong-token")]).status, 401);
    assert_eq!(request(&addr, "GET", "/", &[("Authorization", &format!("Bearer {token}"))]).status, 200);
    let login_path = &login[login.find("/login").expect("a login path")..];
    let first = get(&addr, login_path);
    assert_eq!(first.status, 303);
    let cookie = first.header("set-cookie").expect("a cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_string();
    assert_eq!(request(&addr, "GET", "/", &[("Cookie", &pair)]).status, 200);
    assert_eq!(get(&addr, login_path).status, 401, "the login link works once");
}
