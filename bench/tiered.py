#!/usr/bin/env python3
"""Tiered compilation, side by side (bench section "start", BENCHMARKS.md
"Tiered compilation"): the cold start of each plugin with
BATON_COMPILER=tiered, winch and cranelift (wall and CPU seconds of the whole
process, artifact size), the warm start, a CPU-heavy Python step on Winch's
and on Cranelift's code, a cold run of several heavy steps (does the
background compile slow the steps more than it saves?), the second Python
plugin with and without Cranelift's incremental cache, and the polyglot
example from an empty cache.

Standalone: python3 bench/tiered.py --baton target/release/baton \
  --guests <wasm-guests>/wasm32-wasip2/release --plugins plugins/dist [--md out.md]
bench.py's "start" section runs it too."""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

COMPILERS = ["tiered", "winch", "cranelift"]
ROOT = Path(__file__).resolve().parent.parent


def junit_xml(n):
    cases = "".join(f'<testcase classname="pkg.mod{i % 97}" name="test_{i}" time="0.001"/>' for i in range(n))
    return f'<?xml version="1.0"?>\n<testsuite name="big" tests="{n}">{cases}</testsuite>\n'


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = Path(tempfile.mkdtemp(prefix="baton-tiered-"))
        self.env = dict(os.environ, NO_COLOR="1")
        self.md, self.data = [], {}

    def run(self, d, env, args=()):
        """Runs `baton run -q --json` in d; wall, CPU (user+sys of baton and
        its threads) and the report."""
        import time
        t0 = time.perf_counter()
        p = subprocess.Popen([self.a.baton, "run", "-q", "--json", *args, str(d / "baton.toml")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate()
        wall = time.perf_counter() - t0
        try:
            report = json.loads(out)
        except ValueError:
            report = {"steps": [], "plugins": []}
            print(f"tiered bench: no report from {d}: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return wall, report

    def timed(self, d, env, args=()):
        """As run, with the CPU seconds of the process (children's rusage)."""
        import resource
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, report = self.run(d, env, args)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, report

    def pipeline(self, name, wasm, config, files, steps=1):
        d = self.work / name
        d.mkdir(parents=True, exist_ok=True)
        copy = ""
        for f, text in files.items():
            (d / f).write_text(text)
        if files:
            copy = (f'[[boards.b.steps]]\nname = "inputs"\nplugin = "shell"\n'
                    f'with = {{ run = "cd $BATON_SRC && cp {" ".join(files)} $BATON_WORKSPACE/" }}\n\n')
        plugin = f'[plugins]\np = "{wasm}"\n\n' if wasm else ""
        body = "".join(f'[[boards.b.steps]]\nname = "s{i}"\nplugin = "{"p" if wasm else "shell"}"\nwith = {config}\n\n'
                       for i in range(steps))
        (d / "baton.toml").write_text(
            f'[pipeline]\nname = "{name}"\njobs = 1\n\n{plugin}[policy]\nspawn = ["sh", "cp"]\n\n{copy}{body}')
        return d

    def cold(self, d, compiler, digest, runs):
        samples = []
        for _ in range(runs):
            cache = self.work / "cache-cold"
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(d / ".baton", ignore_errors=True)
            env = dict(self.env, BATON_CACHE_DIR=str(cache), BATON_COMPILER=compiler)
            wall, cpu, report = self.timed(d, env)
            mine = [p for p in report["plugins"] if p["name"] == "p"] or report["plugins"][-1:]
            size = sum(f.stat().st_size for f in (cache / "compiled").glob(f"{digest}-*.cwasm")) if digest else 0
            samples.append({"wall": wall, "cpu": cpu, "size": size,
                            "compile": mine[0]["seconds"] if mine else float("nan"),
                            "code": mine[0].get("compiler", "?") if mine else "?",
                            "ok": all(s["status"] == "ok" for s in report["steps"])})
        med = {k: statistics.median(s[k] for s in samples) for k in ("wall", "cpu", "size", "compile")}
        med.update(code=samples[-1]["code"], ok=all(s["ok"] for s in samples), min_wall=min(s["wall"] for s in samples))
        return med

    def warm(self, d, compiler, runs):
        cache = self.work / "cache-warm"
        shutil.rmtree(cache, ignore_errors=True)
        env = dict(self.env, BATON_CACHE_DIR=str(cache), BATON_COMPILER=compiler)
        fill = dict(env, BATON_COMPILER="cranelift" if compiler == "tiered" else compiler)
        self.run(d, fill)
        walls, loads = [], []
        for _ in range(runs):
            shutil.rmtree(d / ".baton", ignore_errors=True)
            wall, report = self.run(d, env)
            walls.append(wall)
            mine = [p for p in report["plugins"] if p["name"] == "p"] or report["plugins"][-1:]
            loads.append(mine[0]["seconds"] if mine else float("nan"))
        return statistics.median(walls), statistics.median(loads)

    def start(self):
        guests, dist = Path(self.a.guests).resolve(), Path(self.a.plugins).resolve()
        xml = '<testsuite name="t"><testcase classname="t" name="ok"/></testsuite>\n'
        plugins = [
            ("Rust: noop fixture", guests / "fixture_noop.wasm", "{}", {}),
            ("Rust: shell (bundled)", None, '{ run = "true" }', {}),
            ("C: checksum", dist / "checksum.wasm", '{ paths = ["input.txt"], output = "SUMS" }', {"input.txt": "hi\n"}),
            ("Python: junit", dist / "junit.wasm", '{ reports = ["report.xml"] }', {"report.xml": xml}),
            ("JavaScript: release-notes", dist / "release-notes.wasm", '{ version = "1.0.0", artifacts = [] }', {}),
        ]
        rows, data = [], {}
        for i, (name, wasm, config, files) in enumerate(plugins):
            if wasm is not None and not wasm.exists():
                rows.append((name, "not built", *[""] * 8))
                continue
            d = self.pipeline(f"start-{i}", wasm, config, files)
            digest = hashlib.sha256(wasm.read_bytes()).hexdigest() if wasm else None
            big = wasm is not None and wasm.stat().st_size > (4 << 20)
            runs = self.a.runs if big else self.a.runs + 2
            data[name] = {}
            for c in COMPILERS:
                print(f"tiered bench: cold {name} ({c})", file=sys.stderr)
                r = self.cold(d, c, digest, runs)
                r["warm_wall"], r["warm_load"] = self.warm(d, c, 2 * runs)
                data[name][c] = r
                rows.append((name if c == "tiered" else "", c, r["code"], f"{r['wall']:.2f}", f"{r['cpu']:.2f}",
                             f"{r['compile']:.2f}", f"{r['size'] / 1e6:.1f}" if r["size"] else "—",
                             f"{r['warm_wall'] * 1000:.1f}", f"{r['warm_load'] * 1000:.1f}", "ok" if r["ok"] else "FAILED"))
        self.md += ["### Cold and warm start per compiler", "",
                    "Cold: a one-step pipeline (plus a shell step copying the input) from an empty "
                    "`BATON_CACHE_DIR`, median of the runs; wall and CPU (user+sys, all threads) of the whole "
                    "`baton run`; 'load s' is the plugin's compile or load (`plugins[].seconds`); 'artifact' is "
                    "what the compile cache holds for the plugin when the run ends (tiered: Winch's until "
                    "Cranelift's replaces it). Warm: the cache holds the code the compiler leaves for later "
                    "runs (tiered: Cranelift's), median run and plugin load.", ""]
        self.table(["plugin", "BATON_COMPILER", "first code", "cold wall s", "cold CPU s", "load s", "artifact MB",
                    "warm run ms", "warm load ms", "steps"], rows)
        self.data["start"] = data

    def heavy(self):
        junit = Path(self.a.plugins).resolve() / "junit.wasm"
        if not junit.exists():
            return
        xml = junit_xml(40000)
        d = self.pipeline("heavy", junit, '{ reports = ["report.xml"] }', {"report.xml": xml})
        rows, data = [], {}
        for c in ["winch", "cranelift"]:
            cache = self.work / f"cache-heavy-{c}"
            env = dict(self.env, BATON_CACHE_DIR=str(cache), BATON_COMPILER=c)
            self.run(d, env)
            times = []
            for _ in range(self.a.runs + 1):
                shutil.rmtree(d / ".baton", ignore_errors=True)
                _, report = self.run(d, env)
                s = next(s for s in report["steps"] if s["id"] == "b.s0")
                times.append(s["end"] - s["start"])
            data[c] = statistics.median(times)
            rows.append((c, f"{statistics.median(times):.3f}", f"{min(times):.3f}"))
        self.md += ["", "### A CPU-heavy Python step on each compiler's code", "",
                    f"The junit plugin on a {len(xml) / 1e6:.1f} MB report of 40,000 testcases, the code "
                    "loaded from the cache; the step's own time (report `end - start`).", ""]
        self.table(["code", "step median s", "step min s"], rows)
        self.data["heavy"] = data
        # Several heavy steps from a cold cache: the background compile shares
        # the cores with the steps.
        steps = 6
        d = self.pipeline("heavy-cold", junit, '{ reports = ["report.xml"] }', {"report.xml": xml}, steps=steps)
        rows, cold = [], {}
        for c in COMPILERS:
            print(f"tiered bench: {steps} heavy steps cold ({c})", file=sys.stderr)
            walls, cpus, codes = [], [], []
            for _ in range(self.a.runs):
                cache = self.work / "cache-heavy-cold"
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(d / ".baton", ignore_errors=True)
                env = dict(self.env, BATON_CACHE_DIR=str(cache), BATON_COMPILER=c)
                wall, cpu, report = self.timed(d, env)
                walls.append(wall)
                cpus.append(cpu)
                mine = next((p for p in report["plugins"] if p["name"] == "p"), {})
                codes = [s["compiler"] for s in mine.get("steps", [])]
            cold[c] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "codes": codes}
            rows.append((c, f"{statistics.median(walls):.2f}", f"{min(walls):.2f}", f"{statistics.median(cpus):.2f}",
                         " ".join("W" if x == "winch" else "C" for x in codes)))
        self.md += ["", f"### {steps} heavy steps one after another (`jobs = 1`), from an empty cache", "",
                    "Wall and CPU of the whole run; the code each step ran on (W: Winch, C: Cranelift), "
                    "from `plugins[].steps`.", ""]
        self.table(["BATON_COMPILER", "wall median s", "wall min s", "CPU s", "steps' code"], rows)
        self.data["heavy_cold"] = cold

    def incremental(self):
        dist = Path(self.a.plugins).resolve()
        junit, raises = dist / "junit.wasm", dist / "py-raises.wasm"
        if not (junit.exists() and raises.exists()):
            return
        rows, data = [], {}
        for label, inc in [("off", "0"), ("on", "1")]:
            cache = self.work / f"cache-incr-{label}"
            shutil.rmtree(cache, ignore_errors=True)
            env = dict(self.env, BATON_CACHE_DIR=str(cache), BATON_COMPILER="cranelift", BATON_INCREMENTAL_CACHE=inc)
            res = []
            for wasm in [junit, raises]:
                d = self.work / f"incr-{wasm.stem}"
                d.mkdir(exist_ok=True)
                (d / "baton.toml").write_text(f'[plugins]\np = "{wasm}"\n[[boards.b.steps]]\nname = "s"\n'
                                              f'plugin = "p"\nwith = {{}}\n')
                import resource
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                import time
                t0 = time.perf_counter()
                subprocess.run([self.a.baton, "check", str(d / "baton.toml")], env=env, capture_output=True)
                wall = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                res.append((wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))
            store = sum(f.stat().st_size for f in (cache / "compiled" / "incremental").rglob("*") if f.is_file())
            data[label] = {"junit": res[0], "py-raises": res[1], "store": store}
            rows.append((label, f"{res[0][0]:.2f} / {res[0][1]:.2f}", f"{res[1][0]:.2f} / {res[1][1]:.2f}",
                         f"{store / 1e6:.1f}"))
        self.md += ["", "### Cranelift's incremental cache", "",
                    "`baton check` (Cranelift) of junit, then of py-raises (another componentize-py plugin), "
                    "into one empty cache; wall / CPU seconds.", ""]
        self.table(["incremental cache", "junit wall / CPU s", "py-raises wall / CPU s", "store MB"], rows)
        self.data["incremental"] = data

    def polyglot(self):
        d = ROOT / "examples" / "polyglot"
        if not (ROOT / "plugins/dist/junit.wasm").exists():
            return
        rows, data = [], {}
        for c in ["tiered", "cranelift"]:
            cache = self.work / "cache-polyglot"
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(d / ".baton", ignore_errors=True)
            env = dict(self.env, BATON_CACHE_DIR=str(cache), BATON_COMPILER=c)
            wall, cpu, report = self.timed(d, env)
            ok = all(s["status"] == "ok" for s in report["steps"])
            data[c] = {"wall": wall, "cpu": cpu, "ok": ok}
            rows.append((c, f"{wall:.2f}", f"{cpu:.2f}", "ok" if ok else "FAILED"))
        shutil.rmtree(d / ".baton", ignore_errors=True)
        self.md += ["", "### The polyglot example from an empty cache", ""]
        self.table(["BATON_COMPILER", "wall s", "CPU s", "steps"], rows)
        self.data["polyglot"] = data

    def table(self, head, rows):
        self.md.append("| " + " | ".join(head) + " |")
        self.md.append("|" + "|".join("---" for _ in head) + "|")
        self.md += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baton", required=True)
    ap.add_argument("--guests", required=True)
    ap.add_argument("--plugins", default=str(ROOT / "plugins/dist"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--md")
    ap.add_argument("--json")
    ap.add_argument("--only", default="start,heavy,incremental,polyglot")
    a = ap.parse_args()
    b = Bench(a)
    try:
        for part in a.only.split(","):
            getattr(b, part)()
    finally:
        shutil.rmtree(b.work, ignore_errors=True)
    text = "\n".join(b.md) + "\n"
    if a.md:
        Path(a.md).write_text(text)
    if a.json:
        Path(a.json).write_text(json.dumps(b.data, indent=1))
    print(text)


if __name__ == "__main__":
    main()
