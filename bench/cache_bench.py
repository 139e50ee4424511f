#!/usr/bin/env python3
"""Measures the step cache (issue 21), side by side in one run:

    cache_bench.py --baton BIN --noop fixture_noop.wasm --work DIR [--n 10000] [--runs 5]

1. Key cost: the 10,000-step random graph of bench/gen_graph.py with noop
   steps, as is (`cache = false`), with `cache = true` on a cold cache
   (every step a miss: key, run, record) and on a warm one (every step a
   hit: key, check, restore).
2. Hashing 10,000 input files of 1 KiB: one cached noop step with
   `inputs = ["src/**"]`, a miss, next to the same step without inputs.
3. A real-ish pipeline (shell steps compiling and linking C, byte-compiling
   Python, running the program, archiving): the first run on a cold cache
   next to the second, unchanged run.

Times are whole `baton run` processes (start to exit), the median of
--runs repetitions, measured with time.perf_counter. Prints Markdown.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def log(msg):
    print(f"cache-bench: {msg}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = Path(a.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, BATON_CACHE_DIR=str(self.work / "baton-cache"), NO_COLOR="1")

    def run(self, d, *extra):
        t = time.perf_counter()
        p = subprocess.run([self.a.baton, "run", "-q", *extra], cwd=d, env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"baton run failed in {d}:\n{p.stderr}")
        return dt

    def timed(self, d, prepare=None, runs=None):
        """Median wall time of `baton run` in d; `prepare` runs before each."""
        out = []
        for _ in range(runs or self.a.runs):
            if prepare:
                prepare()
            out.append(self.run(d))
        return statistics.median(out)

    @staticmethod
    def drop_cache(d):
        def go():
            for sub in ["cache", "store", "runs"]:
                shutil.rmtree(Path(d) / ".baton" / sub, ignore_errors=True)
        return go

    @staticmethod
    def drop_runs(d):
        return lambda: shutil.rmtree(Path(d) / ".baton" / "runs", ignore_errors=True)

    def graph(self, name, cache):
        d = self.work / name
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run([sys.executable, str(HERE / "gen_graph.py"), "random", str(self.a.n), str(d),
                        "--plugin", self.a.noop, "--jobs", "2"], check=True, stdout=subprocess.DEVNULL)
        if cache:
            toml = (d / "baton.toml").read_text().replace('plugin = "p"\n', 'plugin = "p"\ncache = true\n')
            (d / "baton.toml").write_text(toml)
        return d

    def key_cost(self):
        n = self.a.n
        log(f"key cost: {n} noop steps, cache = false / true (miss) / true (hit)")
        plain = self.graph("plain", False)
        cached = self.graph("cached", True)
        t_plain = self.timed(plain, self.drop_runs(plain))
        t_miss = self.timed(cached, self.drop_cache(cached))
        self.run(cached)
        t_hit = self.timed(cached, self.drop_runs(cached))
        us = lambda t: (t - t_plain) / n * 1e6
        return [
            f"## Step cache: key cost ({n}-step random graph, noop steps, 2 jobs)", "",
            "| steps | wall (median) | per step vs `cache = false` |", "| --- | ---: | ---: |",
            f"| `cache = false` | {t_plain:.2f} s | — |",
            f"| `cache = true`, every step a miss (key, run, record) | {t_miss:.2f} s | {us(t_miss):+.1f} µs |",
            f"| `cache = true`, every step a hit (key, check, restore) | {t_hit:.2f} s | {us(t_hit):+.1f} µs |", "",
        ]

    def hashing(self):
        files = 10000
        log(f"hashing {files} input files of 1 KiB")
        rows = []
        for name, inputs in [("no-inputs", None), ("inputs", '["src/**"]')]:
            d = self.work / f"hash-{name}"
            shutil.rmtree(d, ignore_errors=True)
            src = d / "src"
            for i in range(files):
                sub = src / f"d{i % 100}"
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"f{i}.txt").write_bytes(os.urandom(1024))
            line = f"inputs = {inputs}\n" if inputs else ""
            (d / "baton.toml").write_text(
                f'[plugins]\np = "{os.path.abspath(self.a.noop)}"\n[[boards.b.steps]]\nname = "s"\nplugin = "p"\n'
                f"cache = true\n{line}")
            rows.append((name, self.timed(d, self.drop_cache(d))))
        diff = rows[1][1] - rows[0][1]
        return [
            f"## Step cache: hashing {files} input files of 1 KiB (one cached noop step, a miss)", "",
            "| step | wall (median) |", "| --- | ---: |",
            f"| `cache = true`, no `inputs` | {rows[0][1] * 1e3:.0f} ms |",
            f"| `cache = true`, `inputs = [\"src/**\"]` ({files} files, 10 MiB) | {rows[1][1] * 1e3:.0f} ms |",
            f"| difference: walking and hashing the files | {diff * 1e3:.0f} ms ({diff / files * 1e6:.1f} µs a file) |",
            "",
        ]

    def real(self):
        d = self.work / "real"
        shutil.rmtree(d, ignore_errors=True)
        (d / "src").mkdir(parents=True)
        (d / "py").mkdir()
        for i in range(20):
            body = "\n".join(f"static double f{i}_{k}(double x) {{ return x * {k}.5 + {i}; }}" for k in range(200))
            calls = " + ".join(f"f{i}_{k}(x)" for k in range(200))
            (d / "src" / f"m{i}.c").write_text(f"{body}\ndouble m{i}(double x) {{ return {calls}; }}\n")
        decls = "\n".join(f"double m{i}(double);" for i in range(20))
        total = " + ".join(f"m{i}(1.0)" for i in range(20))
        (d / "src" / "main.c").write_text(f'#include <stdio.h>\n{decls}\nint main(void) {{ printf("%f\\n", {total}); return 0; }}\n')
        for i in range(200):
            (d / "py" / f"mod{i}.py").write_text("\n".join(f"def f{k}(x):\n    return x * {k} + {i}\n" for k in range(200)))
        (d / "baton.toml").write_text(r'''
[policy]
spawn = ["sh", "cc", "python3", "tar", "gzip"]
[[boards.c.steps]]
name = "compile"
plugin = "shell"
cache = true
inputs = ["src/**"]
outputs = ["obj/"]
with = { run = "mkdir -p obj && for f in $BATON_SRC/src/*.c; do cc -O2 -c $f -o obj/$(basename $f .c).o; done" }
[[boards.c.steps]]
name = "link"
plugin = "shell"
cache = true
with = { run = "cc obj/*.o -o app", publish = ["app"] }
[[boards.c.steps]]
name = "test"
plugin = "shell"
cache = true
with = { run = "chmod +x app && ./app > out.txt && cat out.txt", fetch = ["c.link/app"], publish = ["out.txt"] }
[[boards.c.steps]]
name = "archive"
plugin = "shell"
cache = true
with = { run = "tar czf obj.tar.gz obj", publish = ["obj.tar.gz"] }
[[boards.py.steps]]
name = "bytecode"
plugin = "shell"
cache = true
inputs = ["py/**"]
outputs = ["pyc/"]
with = { run = "cp -r $BATON_SRC/py pyc && python3 -m compileall -q pyc && tar czf pyc.tar.gz pyc", publish = ["pyc.tar.gz"] }
''')
        log("real-ish pipeline: first run (cold cache) vs second run (unchanged)")
        firsts, seconds = [], []
        for _ in range(self.a.runs_real):
            self.drop_cache(d)()
            firsts.append(self.run(d))
            seconds.append(self.run(d))
        f, s = statistics.median(firsts), statistics.median(seconds)
        return [
            "## Step cache: a second run of an unchanged real-ish pipeline", "",
            "Two boards, 5 cached shell steps: compile 21 C files (`cc -O2`) into `obj/` (an output), link, run the "
            "program, archive the objects; byte-compile 200 Python modules and archive them.", "",
            "| run | wall (median) |", "| --- | ---: |",
            f"| first (cold cache: every step runs and is recorded) | {f:.2f} s |",
            f"| second (unchanged: every step a hit) | {s:.3f} s ({s / f * 100:.1f} % of the first) |", "",
        ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baton", required=True)
    ap.add_argument("--noop", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runs-real", type=int, default=3)
    a = ap.parse_args()
    b = Bench(a)
    md = [f"baton: `{a.baton}`, {os.cpu_count()} cores", ""]
    md += b.key_cost()
    md += b.hashing()
    md += b.real()
    print("\n".join(md))


if __name__ == "__main__":
    main()
