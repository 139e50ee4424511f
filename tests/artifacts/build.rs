//! Builds every guest fixture under `tests/fixtures/` for `wasm32-wasip2`
//! and writes `fixtures.rs` with one constant per fixture (its path).

include!("../../host/guest_build.rs");

/// `(package, constant)` for every fixture.
const FIXTURES: &[(&str, &str)] = &[
    ("fixture-probe", "PROBE"),
    ("fixture-noop", "NOOP"),
    ("fixture-hostile", "HOSTILE"),
    ("fixture-contract-v0-1-0", "CONTRACT_V0_1_0"),
    ("fixture-contract-v0-2-0", "CONTRACT_V0_2_0"),
    ("fixture-wrong-world", "WRONG_WORLD"),
    ("fixture-unknown-import", "UNKNOWN_IMPORT"),
    ("fixture-huge-table", "HUGE_TABLE"),
    ("fixture-relaxed-simd", "RELAXED_SIMD"),
];

fn main() {
    let packages: Vec<&str> = FIXTURES.iter().map(|(p, _)| *p).collect();
    let built = build_guests(&packages);
    let mut code = String::new();
    for ((package, constant), path) in FIXTURES.iter().zip(built) {
        code += &format!(
            "/// `tests/fixtures/{}`\npub const {constant}: &str = {:?};\n",
            package.trim_start_matches("fixture-"),
            path.display().to_string()
        );
    }
    code += "/// Every fixture: `(name, path)`.\npub const ALL: &[(&str, &str)] = &[\n";
    for (package, constant) in FIXTURES {
        code += &format!("    ({:?}, {constant}),\n", package.trim_start_matches("fixture-"));
    }
    code += "];\n";
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("fixtures.rs"), code).expect("write fixtures.rs");
}
