//! Builds the bundled plugins (`plugins/shell`) for `wasm32-wasip2` and puts
//! them in `OUT_DIR`, where `runtime/bundled.rs` includes them.

include!("guest_build.rs");

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let built = build_guests(&["baton-plugin-shell"]);
    std::fs::copy(&built[0], out.join("shell.wasm")).expect("copy shell.wasm");
}
