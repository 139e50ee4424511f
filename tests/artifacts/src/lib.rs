//! Paths of the test fixtures, built from `tests/fixtures/` by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// The path of fixture `name`.
pub fn fixture(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}
