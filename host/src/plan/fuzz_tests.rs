//! A mutation fuzzer over the pipeline parser and planner: thousands of
//! damaged variants of real pipeline files, each of which must be accepted
//! or rejected with errors — never a panic. (A hang would hang the test.)

use std::path::Path;

use super::Plan;

/// xorshift64*: deterministic, so a failure reproduces with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that reach deep into the planner when spliced in.
const TOKENS: &[&str] = &[
    "[[boards.b.steps]]\nname = \"x\"\n",
    "[[boards.b.steps]]\nname = \"x\"\nafter = [\"x\"]\n",
    "[templates.t]\nsteps = [{ name = \"a\" }, { name = \"b\", after = [\"a\", \"c\"] }]\n",
    "[boards.z]\ntemplate = \"t\"\n",
    "[boards.y]\ntemplate = \"nope\"\n",
    "after = [\"linux.L1\", \"windows.W9\", \"..\", \".\", \"a.b.c\"]\n",
    "retries = 4294967295\n",
    "retries = -1\n",
    "backoff = \"999999999999999h\"\n",
    "timeout = \"1e308s\"\n",
    "timeout = \"NaNs\"\n",
    "memory = \"18446744073709551616TiB\"\n",
    "memory = \"-5MiB\"\n",
    "cpu = \"0s\"\n",
    "trust = \"untrusted\"\n",
    "spawn = [\"sh\", \"\"]\n",
    "capabilities = [\"process\", \"teleport\"]\n",
    "emits = [\"a\", \"a\", \"b/c\"]\n",
    "pool = \"foreground\"\n",
    "[pools]\nforeground = 0\n",
    "[pools]\nforeground = 9223372036854775807\n",
    "[pipeline]\njobs = 0\n",
    "[plugins]\np = { path = \"x.wasm\", sha256 = \"zz\" }\n",
    "[policy.untrusted]\nmemory = \"1GiB\"\n",
    "with = { run = [\"a\", { emit = 1 }] }\n",
    "on_failure = \"sometimes\"\n",
    "\"\u{0}\u{ffff}é𝄞\"",
    "= = = [[[ {{{ \"",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !s.is_empty() => {
                let at = rng.below(s.len());
                let len = rng.below(40).min(s.len() - at);
                s.drain(at..at + len);
            }
            1 => {
                let at = rng.below(s.len() + 1);
                let tok: Vec<char> = TOKENS[rng.below(TOKENS.len())].chars().collect();
                s.splice(at..at, tok);
            }
            2 if !s.is_empty() => {
                let at = rng.below(s.len());
                s[at] = char::from_u32((rng.next() % 0x80) as u32).unwrap_or('x');
            }
            3 => {
                let lines: Vec<String> = s.iter().collect::<String>().lines().map(String::from).collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    let mut out = lines.clone();
                    out.insert(rng.below(lines.len() + 1), lines[i].clone());
                    s = out.join("\n").chars().collect();
                }
            }
            4 => s.extend(TOKENS[rng.below(TOKENS.len())].chars()),
            _ => {
                let lines: Vec<String> = s.iter().collect::<String>().lines().map(String::from).collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    let mut out = lines;
                    out.swap(a, b);
                    s = out.join("\n").chars().collect();
                }
            }
        }
    }
    s.into_iter().collect()
}

#[test]
fn no_damaged_pipeline_makes_the_planner_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seeds: Vec<String> = std::fs::read_dir(&root)
        .expect("examples")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("baton.toml")).ok())
        .collect();
    seeds.push(String::new());
    seeds.push(TOKENS.concat());
    let file = Path::new("/fuzz/baton.toml");
    let (mut accepted, mut rejected) = (0, 0);
    for seed in 1..=4000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let base = &seeds[rng.below(seeds.len())];
        let text = mutate(&mut rng, base);
        let outcome = std::panic::catch_unwind(|| Plan::parse(&text, file));
        match outcome {
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(e)) => {
                assert!(!e.errors.is_empty(), "seed {seed}: rejected without a reason");
                rejected += 1;
            }
            Err(_) => panic!("seed {seed} made the planner panic on:\n{text}"),
        }
    }
    // The mutations must exercise both paths, or the fuzzer tests nothing.
    assert!(accepted > 100 && rejected > 100, "accepted {accepted}, rejected {rejected}");
}
