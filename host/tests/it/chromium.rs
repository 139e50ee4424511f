//! Headless Chromium for the tests that check what a page shows once its
//! script ran. Chromium is a test dependency (`./setup.sh --deps` installs
//! it): a missing browser fails the test, it does not skip it.

use std::path::Path;
use std::process::Command;

/// The Chromium binary: `$BATON_CHROMIUM`, else `chromium` on the PATH.
fn binary() -> String {
    std::env::var("BATON_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// The DOM of `page` (a local file) after its scripts ran, as HTML.
pub fn dump_dom(page: &Path) -> String {
    let profile = tempfile::Builder::new().prefix("baton-chromium-").tempdir().expect("tempdir");
    let out = Command::new(binary())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{}` ({e}): headless Chromium is needed to check the HTML report; \
                 install it with `./setup.sh --deps` (Debian package `chromium`) or set BATON_CHROMIUM",
                binary()
            )
        });
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed on {}: {}\n{}",
        page.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// The values of `attr` on the elements whose `class` starts with
/// `class_prefix`, in document order. (Chromium serialises attributes in
/// source order, and the report writes `class` first.)
pub fn attr_of_class(dom: &str, class_prefix: &str, attr: &str) -> Vec<String> {
    let open = format!("class=\"{class_prefix}");
    let mut out = Vec::new();
    for tag in dom.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        if !tag.contains(&open) {
            continue;
        }
        if let Some(rest) = tag.split(&format!(" {attr}=\"")).nth(1) {
            out.push(rest.split('"').next().unwrap_or("").to_string());
        }
    }
    out
}
