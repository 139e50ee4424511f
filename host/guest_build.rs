// Shared by `host/build.rs` (bundled plugins) and `tests/artifacts/build.rs`
// (test fixtures): builds workspace packages for `wasm32-wasip2` with a
// nested cargo, in a target directory of its own next to the outer one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (where `Cargo.lock` is).
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    manifest.ancestors().find(|d| d.join("Cargo.lock").exists() && d.join("wit").is_dir()).unwrap_or(&manifest).to_path_buf()
}

/// `<target>/wasm-guests`, shared by every profile of the outer build.
fn guest_target_dir() -> PathBuf {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out
    let build = out.ancestors().find(|p| p.file_name().is_some_and(|n| n == "build")).expect("OUT_DIR under build/");
    build.parent().and_then(Path::parent).expect("target dir").join("wasm-guests")
}

/// Builds `packages` (workspace package names) and returns the path of each
/// `.wasm`, in the same order.
pub fn build_guests(packages: &[&str]) -> Vec<PathBuf> {
    let root = workspace_root();
    for dir in ["wit", "sdk", "plugins", "tests/fixtures", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = guest_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "CLIPPY_ARGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"] {
        cmd.env_remove(var);
    }
    for p in packages {
        cmd.arg("-p").arg(p);
    }
    let status = cmd.status().expect("run cargo for the wasm guests");
    if !status.success() {
        panic!(
            "building the wasm guests {packages:?} failed; is the target installed? (`rustup target add wasm32-wasip2`)"
        );
    }
    packages
        .iter()
        .map(|p| target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", p.replace('-', "_"))))
        .collect()
}
