//! Seeing what a run made: the artifacts section of `report.html`, and the
//! line a first run prints while it compiles a big plugin.

use sha2::{Digest, Sha256};

use crate::harness::{Pipeline, Run};

#[test]
fn report_html_lists_each_artifact_with_producer_size_and_digest() {
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]
[[boards.linux.steps]]
name = "package"
plugin = "shell"
with = { run = "head -c 2048 /dev/urandom > app.bin && mkdir -p docs && echo hi > docs/a.txt", publish = ["app.bin", "docs"] }
[[boards.release.steps]]
name = "notes"
plugin = "shell"
after = ["linux.package"]
with = { run = "echo notes > notes.md", publish = ["notes.md"] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run_dir = p.dir().join(".baton/runs").join(r.report["run_id"].as_str().expect("run id"));
    let html = std::fs::read_to_string(run_dir.join("report.html")).expect("report.html");
    let section = html
        .split("<section id=\"artifacts\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or_else(|| panic!("no artifacts section in report.html"));
    assert!(html.contains("<a href=\"#artifacts\">artifacts (3)</a>"), "the page links it");
    assert!(section.contains("<b>3</b> artifacts"), "{section}");

    let digest = hex::encode(Sha256::digest(std::fs::read(p.workspace("linux").join("app.bin")).expect("app.bin")));
    assert!(
        section.contains(&format!(
            "<tr><td><code title=\"linux.package/app.bin\">app.bin</code></td><td><a href=\"#step-linux.package\">linux.package</a></td><td>2KiB</td><td><code title=\"sha256:{digest}\">sha256:{}</code></td></tr>",
            &digest[..12]
        )),
        "{section}"
    );
    assert!(
        section.contains("<code title=\"linux.package/docs\">docs</code> <span class=\"pill\">directory (tar)</span>"),
        "{section}"
    );
    let notes = hex::encode(Sha256::digest(b"notes\n"));
    assert!(
        section.contains(&format!(
            "<td><a href=\"#step-release.notes\">release.notes</a></td><td>6B</td><td><code title=\"sha256:{notes}\">"
        )),
        "{section}"
    );
    // The same list is in report.json, for tools.
    let listed: Vec<&str> =
        r.report["artifacts"].as_array().expect("artifacts").iter().filter_map(|a| a["reference"].as_str()).collect();
    assert_eq!(listed, ["linux.package/app.bin", "linux.package/docs", "release.notes/notes.md"]);
}

/// A copy of the probe fixture made bigger than 1 MiB by a custom section,
/// so that compiling it is a cache miss of a "large" plugin (custom
/// sections cost nothing to compile).
fn big_plugin(dir: &std::path::Path) -> std::path::PathBuf {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let probe = std::fs::read(baton_test_artifacts::PROBE).expect("probe fixture");
    let name = b"baton-test-padding";
    let mut padding = 2 << 20;
    let bytes = loop {
        let mut body = Vec::new();
        leb(name.len(), &mut body);
        body.extend_from_slice(name);
        body.resize(body.len() + padding, 0x5a);
        let mut bytes = probe.clone();
        bytes.push(0); // custom section
        leb(body.len(), &mut bytes);
        bytes.extend_from_slice(&body);
        // A size in whole KiB would print as such; keep the `x.yMiB` form.
        if !bytes.len().is_multiple_of(1024) {
            break bytes;
        }
        padding += 1;
    };
    let path = dir.join("big.wasm");
    std::fs::write(&path, bytes).expect("write big.wasm");
    path
}

#[test]
fn the_first_run_says_it_compiles_a_big_plugin_and_later_runs_do_not() {
    let plugins = tempfile::tempdir().expect("tempdir");
    let big = big_plugin(plugins.path());
    let size = std::fs::metadata(&big).expect("big.wasm").len();
    let p = Pipeline::new(&format!(
        r#"
[plugins]
big = "{}"
[[boards.b.steps]]
name = "s"
plugin = "big"
with = {{ ops = [{{ op = "log", message = "ran" }}] }}
"#,
        big.display()
    ));
    let cache = tempfile::tempdir().expect("cache dir");
    let run = || {
        let out = p.baton().env("BATON_CACHE_DIR", cache.path()).args(["run", "--json"]).output().expect("run baton");
        Run::from_output(out)
    };
    let first = run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let line = format!(
        "compiling plugin big ({:.1}MiB), first run only: later runs load it from the compile cache",
        size as f64 / (1 << 20) as f64
    );
    assert!(first.stderr.contains(&line), "{}", first.stderr);
    // It is said before the run starts, while the compile goes on.
    let said = first.stderr.find(&line).expect("line");
    assert!(said < first.stderr.find("] run ").expect("run started line"), "{}", first.stderr);

    let second = run();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(!second.stderr.contains("compiling plugin"), "{}", second.stderr);
    assert_eq!(second.report["plugins"][0]["cache"], "hit");

    // `baton check` compiles what it checks, and says so the same way.
    let other_cache = tempfile::tempdir().expect("cache dir");
    let check = p.baton().env("BATON_CACHE_DIR", other_cache.path()).arg("check").output().expect("check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&line), "{stderr}");
}
