#!/usr/bin/env python3
"""Measures baton next to ninja, make and fork/exec, and prints one table.

Called by bench/run.sh, which installs the tools and builds what is needed:

    bench.py --baton BIN --guests DIR --plugins DIR --spawn BIN --work DIR --out DIR
             [--quick] [--only SECTION,...]

Every time is a whole process (start to exit), repeated by hyperfine, which
reports min and median; peak memory is the max RSS of the process
(/usr/bin/time, getrusage). Nothing is
asserted: each target of issue 8 is measured and said to be met or missed.
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS = ["per-step", "throughput", "scale", "makespan", "start", "memory", "cluster"]


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = Path(args.work)
        self.quick = args.quick
        self.n = 1000 if args.quick else 10000
        self.runs = 2 if args.quick else 5
        self.runs_slow = 2 if args.quick else 3
        # Compiled plugins go to a cache of the benchmark's own, not the user's.
        self.env = dict(os.environ, BATON_CACHE_DIR=str(self.work / "cache"))
        self.timed = {}
        self.targets = []
        self.data = {}
        self.md = []
        self.count = 0

    # --- tools -------------------------------------------------------------

    def log(self, msg):
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    def hyperfine(self, argv, runs=None, warmup=1, prepare=None, env=None):
        """Times one command; returns min/median/mean wall and mean CPU (s)."""
        self.count += 1
        out = self.work / f"hf-{self.count}.json"
        cmd = ["hyperfine", "-N", "--style", "none", "-w", str(warmup), "-r", str(runs or self.runs),
               "--export-json", str(out)]
        if prepare:
            cmd += ["--prepare", prepare]
        cmd.append(shlex.join(str(x) for x in argv))
        p = subprocess.run(cmd, env=env or self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"bench: {shlex.join(str(x) for x in argv)} failed:\n{p.stderr}")
        r = json.loads(out.read_text())["results"][0]
        return {"min": r["min"], "median": r["median"], "mean": r["mean"], "cpu": r["user"] + r["system"],
                "runs": len(r["times"])}

    def rss_kb(self, argv, env=None, repeat=1):
        """Peak resident memory (KB) of a command, median of `repeat` runs."""
        out = self.work / "time.txt"
        values = []
        for _ in range(repeat):
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(out)] + [str(x) for x in argv],
                           env=env or self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            values.append(int(out.read_text().split()[-1]))
        return statistics.median(values)

    def gen(self, shape, n, plugin, sleep_ms=None, seed=1):
        """A graph from gen_graph.py (baton.toml, build.ninja, Makefile)."""
        d = self.work / (f"{shape}-{n}-{Path(plugin).stem}" + (f"-{sleep_ms}" if sleep_ms else ""))
        if not (d / "baton.toml").exists():
            cmd = [sys.executable, str(HERE / "gen_graph.py"), shape, str(n), str(d), "--plugin", str(plugin),
                   "--seed", str(seed)]
            if sleep_ms:
                cmd += ["--sleep-ms", sleep_ms]
            subprocess.run(cmd, check=True)
        return d

    def baton(self, d, jobs, *extra):
        return [self.a.baton, "run", "-q", "-j", str(jobs), *extra, d / "baton.toml"]

    def time_baton(self, d, jobs, tmpdir=None):
        """A `baton run` of graph d (timed once per benchmark run); every run
        starts without earlier run directories but keeps the learned step
        durations. `tmpdir` moves the stages' scratch directories."""
        key = (str(d), jobs, tmpdir)
        if key not in self.timed:
            env = dict(self.env, TMPDIR=tmpdir) if tmpdir else None
            self.timed[key] = self.hyperfine(self.baton(d, jobs), prepare=f"rm -rf {d}/.baton/runs", env=env)
        return self.timed[key]

    def target(self, name, met, measured):
        """One row of the targets table; `met` None: measured, no target."""
        self.targets.append((name, "reported" if met is None else "met" if met else "**missed**", measured))

    def table(self, head, rows):
        self.md.append("| " + " | ".join(head) + " |")
        self.md.append("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            self.md.append("| " + " | ".join(str(c) for c in r) + " |")
        self.md.append("")

    # --- 1. per-step overhead ------------------------------------------------

    def per_step(self):
        n = self.n
        self.log(f"per-step overhead: {n} x fork/exec of /bin/true, {n} noop steps")
        noop = Path(self.a.guests) / "fixture_noop.wasm"
        wide, one = self.gen("wide", n, noop), self.gen("wide", 1, noop)

        def per(t_n, t_1):
            return {k: (t_n[k] - t_1[k]) / (n - 1) * 1e6 for k in ("median", "min", "cpu")}

        spawn = per(self.hyperfine([self.a.spawn, n]), self.hyperfine([self.a.spawn, 1]))
        rows = [("fork/exec + wait of `/bin/true`, one at a time", spawn)]
        for jobs in (1, 2):
            rows.append((f"baton noop step, jobs = {jobs}", per(self.time_baton(wide, jobs), self.time_baton(one, jobs))))
        if Path("/dev/shm").is_dir():
            rows.append(("baton noop step, jobs = 1, scratch on tmpfs (`TMPDIR=/dev/shm`; diagnostic)",
                         per(self.time_baton(wide, 1, "/dev/shm"), self.time_baton(one, 1, "/dev/shm"))))
        floor = self.floor(noop)
        if floor:
            rows.append(("floor: wasmtime's own `Store::new` + `instantiate_async` + `call_run` of the noop stage, "
                         "in-process loop (`examples/step_floor.rs`)", floor))
        self.md += [f"## 1. Per-step overhead ({n:,} steps)", "",
                    f"(wall of a {n:,}-step run − wall of a 1-step run) / {n - 1:,}; CPU likewise from user+sys. "
                    "Ratio: fork/exec time ÷ this row's time (higher is better for baton). The floor row is "
                    "what wasmtime itself costs per stage run, timed in a loop in one process (no scheduler, "
                    "journal, log or directories): how close a baton step is to it.", ""]
        self.table(["what", "µs/step (median)", "µs/step (min)", "CPU µs/step", "fork/exec ÷ this"],
                   [(name, f"{p['median']:.0f}", f"{p['min']:.0f}", f"{p['cpu']:.0f}" if "cpu" in p else "–",
                     f"{spawn['median'] / p['median']:.1f}x") for name, p in rows])
        self.data["per_step_us"] = {name: p for name, p in rows}
        headline = rows[1][1]
        ratio = spawn["median"] / headline["median"]
        self.target("1. a baton step costs ≥ 10x less than a process spawn (jobs = 1, median)", ratio >= 10,
                    f"{headline['median']:.0f} µs vs {spawn['median']:.0f} µs: {ratio:.1f}x")
        two = rows[2][1]
        self.target("1. … and with jobs = 2", spawn["median"] / two["median"] >= 10,
                    f"{two['median']:.0f} µs: {spawn['median'] / two['median']:.1f}x")
        if floor:
            self.target("1. a baton step next to wasmtime's floor (jobs = 1)", None,
                        f"{headline['median']:.0f} µs vs floor {floor['median']:.0f} µs "
                        f"({headline['median'] / floor['median']:.1f}x the floor)")
        self.kernel_counts(wide, one)

    def floor(self, noop):
        """µs per stage run of wasmtime alone (examples/step_floor.rs), if built."""
        if not self.a.floor or not Path(self.a.floor).exists():
            return None
        out = subprocess.run([self.a.floor, noop, str(max(self.n // 5, 500))], env=self.env, capture_output=True,
                             text=True, check=True).stdout
        r = json.loads(out)
        return {"median": r["median_us"], "min": r["min_us"]}

    def kernel_counts(self, wide, one):
        """System calls (strace -c -f) and context switches (getrusage, via
        /usr/bin/time) per step: what a step costs the kernel, a figure
        that noise does not move."""
        have_strace = subprocess.run(["sh", "-c", "command -v strace"], capture_output=True).returncode == 0
        rows = []
        for jobs in (1, 2):
            counts = {}
            for d in (wide, one):
                subprocess.run(["rm", "-rf", str(d / ".baton/runs")])
                tf = self.work / "ctx.txt"
                subprocess.run(["/usr/bin/time", "-f", "%w %c", "-o", str(tf)] + [str(x) for x in self.baton(d, jobs)],
                               env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                vol, invol = (int(x) for x in tf.read_text().split()[-2:])
                calls = {}
                if have_strace:
                    subprocess.run(["rm", "-rf", str(d / ".baton/runs")])
                    sf = self.work / "strace.txt"
                    subprocess.run(["strace", "-c", "-f", "-o", str(sf)] + [str(x) for x in self.baton(d, jobs)],
                                   env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for line in sf.read_text().splitlines():
                        f = line.split()
                        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                            calls[f[-1]] = int(f[3])
                counts[d] = (vol, invol, calls)
            (v1, i1, c1), (v0, i0, c0) = counts[wide], counts[one]
            per = lambda a, b: (a - b) / (self.n - 1)
            total = per(sum(c1.values()), sum(c0.values())) if c1 else None
            futex = per(c1.get("futex", 0), c0.get("futex", 0)) if c1 else None
            top = sorted(((per(c1[k], c0.get(k, 0)), k) for k in c1 if k not in ("futex",)), reverse=True)[:6]
            rows.append((f"jobs = {jobs}", f"{per(v1, v0):.2f}", f"{per(i1, i0):.2f}",
                         "–" if total is None else f"{total:.1f}", "–" if futex is None else f"{futex:.2f}",
                         ", ".join(f"{k} {x:.1f}" for x, k in top if x >= 0.05) or "–"))
        self.md += ["Per step, kernel side: (count of an N-step run − count of a 1-step run) / (N − 1). "
                    "Context switches of all baton's threads (getrusage); system calls counted by `strace -c -f` "
                    "(which slows the run, not the counts).", ""]
        self.table(["baton noop step", "voluntary context switches", "involuntary", "system calls", "of which futex",
                    "most frequent others"], rows)
        self.data["kernel_per_step"] = rows

    # --- 2. throughput on big graphs -----------------------------------------

    def throughput(self):
        n = self.n
        noop = Path(self.a.guests) / "fixture_noop.wasm"
        self.md += [f"## 2. Throughput: {n:,}-step graphs of trivial steps, 2 jobs", "",
                    "baton runs the noop stage; ninja and make run `true` (one process per node, no files "
                    "written, so every invocation runs every node). Ratio: tool's median ÷ baton's.", ""]
        rows, data = [], {}
        for shape in ("wide", "chain", "random"):
            d = self.gen(shape, n, noop)
            self.log(f"throughput: {shape} {n}: baton, ninja -j2, make -j2")
            b = self.time_baton(d, 2)
            ninja = self.hyperfine(["ninja", "-C", d, "-j2"], runs=self.runs_slow)
            make = self.hyperfine(["make", "-s", "-C", d, "-j2"], runs=self.runs_slow)
            data[shape] = {"baton": b, "ninja": ninja, "make": make}
            for tool, t in (("baton", b), ("ninja -j2", ninja), ("make -j2", make)):
                rows.append((shape, tool, f"{t['median']:.2f}", f"{t['min']:.2f}", f"{t['cpu']:.2f}",
                             f"{n / t['median']:,.0f}", "1" if tool == "baton" else f"{t['median'] / b['median']:.1f}x"))
            for tool, t in (("ninja", ninja), ("make", make)):
                r = t["median"] / b["median"]
                self.target(f"2. baton ≥ 10x faster than {tool}, {shape} {n:,}", r >= 10,
                            f"{b['median']:.2f} s vs {t['median']:.2f} s: {r:.1f}x")
        self.table(["graph", "tool", "median s", "min s", "CPU s", "steps/s", "÷ baton"], rows)
        self.data["throughput"] = data

    # --- issue 3: scheduler scale --------------------------------------------

    def scale(self):
        noop = Path(self.a.guests) / "fixture_noop.wasm"
        sizes = [250, 500, 1000] if self.quick else [1000, 5000, 10000]
        base = self.rss_kb(self.baton(self.gen("wide", 1, noop), 2), repeat=3)
        self.md += ["## 3. Scheduler scale (issue 3): noop steps, 2 jobs", "",
                    f"Host overhead per step = wall ÷ steps. Peak RSS of a 1-step run: {base / 1024:.1f} MB; "
                    "'KB/step' is (peak − that) ÷ steps: flat means memory grows linearly.", ""]
        rows, data = [], []
        for shape in ("wide", "chain", "random"):
            for n in sizes:
                self.log(f"scale: {shape} {n}")
                d = self.gen(shape, n, noop)
                t = self.time_baton(d, 2)
                rss = self.rss_kb(self.baton(d, 2), repeat=1 if self.quick else 3)
                data.append({"shape": shape, "steps": n, "time": t, "rss_kb": rss})
                rows.append((shape, f"{n:,}", f"{t['median']:.2f}", f"{n / t['median']:,.0f}",
                             f"{t['median'] / n * 1e6:.0f}", f"{t['cpu'] / n * 1e6:.0f}", f"{rss / 1024:.1f}",
                             f"{(rss - base) / n:.2f}"))
        self.table(["graph", "steps", "median s", "steps/s", "µs/step (wall)", "CPU µs/step", "peak RSS MB",
                    "KB/step"], rows)
        self.data["scale"] = {"base_rss_kb": base, "runs": data}
        worst = max(x["time"]["median"] / x["steps"] for x in data)
        self.target("issue 3. host overhead well under 1 ms per step (worst graph, wall)", worst < 0.5e-3,
                    f"worst {worst * 1e6:.0f} µs/step")

    # --- 4. makespan quality ---------------------------------------------------

    def makespan(self):
        steps = 40 if self.quick else 200
        probe = Path(self.a.guests) / "fixture_probe.wasm"
        d = self.gen("random", steps, probe, sleep_ms="20-200", seed=7)
        g = json.loads((d / "durations.json").read_text())
        dur, deps = g["durations_ms"], g["deps"]
        finish = []
        for i, ds in enumerate(deps):
            finish.append(dur[i] + max((finish[j] for j in ds), default=0))
        cp, total = max(finish) / 1000, sum(dur) / 1000
        self.md += [f"## 4. Makespan: a random DAG of {steps} steps sleeping 20–200 ms", "",
                    f"Critical path {cp:.2f} s, total work {total:.2f} s. Lower bound LB = max(critical path, "
                    "total ÷ N). baton's steps sleep inside the probe stage; ninja and make run `sleep`. "
                    "'first run' knows no durations (`.baton/durations.json` removed before each run); 'learned' ran once "
                    "before and uses `.baton/durations.json` (critical-path priority); 'list' is `--priority list`. "
                    "'run alone': the median `duration` of baton's own reports, i.e. without process start "
                    "and the writing of the reports at the end.", ""]
        rows, data = [], {}
        for jobs in (2, 4):
            lb = max(cp, total / jobs)
            self.log(f"makespan: {steps} steps, {jobs} jobs")
            runs = self.runs_slow
            res = {
                "baton, first run": self.baton_makespan(d, jobs, [], warmup=0,
                                                        prepare=f"rm -f {d}/.baton/durations.json"),
                "baton, learned": self.baton_makespan(d, jobs, [], warmup=1),
                "baton, --priority list": self.baton_makespan(d, jobs, ["--priority", "list"], warmup=1),
                f"ninja -j{jobs}": self.hyperfine(["ninja", "-C", d, f"-j{jobs}"], runs=runs),
                f"make -j{jobs}": self.hyperfine(["make", "-s", "-C", d, f"-j{jobs}"], runs=runs),
            }
            data[jobs] = {"lower_bound": lb, **res}
            for tool, t in res.items():
                inner = f"{t['report'] / lb:.3f}" if "report" in t else ""
                rows.append((jobs, f"{lb:.2f}", tool, f"{t['median']:.2f}", f"{t['min']:.2f}",
                             f"{t['median'] / lb:.3f}", f"{t['min'] / lb:.3f}", inner))
            learned = res["baton, learned"]["median"] / lb
            others = min(res[f"ninja -j{jobs}"]["median"], res[f"make -j{jobs}"]["median"]) / lb
            self.target(f"3. baton (learned) within 5% of the lower bound, N = {jobs}", learned <= 1.05,
                        f"{learned:.3f} x LB (the run alone: {res['baton, learned']['report'] / lb:.3f})")
            self.target(f"3. baton (learned) no worse than make or ninja, N = {jobs}", learned <= others,
                        f"{learned:.3f} vs best of make/ninja {others:.3f}")
        self.table(["N", "LB s", "tool", "median s", "min s", "median ÷ LB", "min ÷ LB", "run alone ÷ LB"], rows)
        self.data["makespan"] = {"critical_path": cp, "total": total, "runs": data}

    def baton_makespan(self, d, jobs, extra, warmup, prepare=None):
        """Times `baton run` of d and adds `report`: the median run duration
        in the reports of the timed runs (run directories are kept)."""
        runs_dir = d / ".baton/runs"
        before = set(runs_dir.iterdir()) if runs_dir.exists() else set()
        t = self.hyperfine(self.baton(d, jobs, *extra), runs=self.runs_slow, warmup=warmup, prepare=prepare)
        timed = sorted(set(runs_dir.iterdir()) - before)[warmup:]
        t["report"] = statistics.median(json.loads((r / "report.json").read_text())["duration"] for r in timed)
        return t

    # --- 5. cold and warm start ------------------------------------------------

    def start(self):
        guests, dist = Path(self.a.guests), Path(self.a.plugins)
        xml = '<testsuite name="t"><testcase classname="t" name="ok"/></testsuite>\n'
        plugins = [
            ("Rust: noop fixture", guests / "fixture_noop.wasm", "{}", {}),
            ("Rust: shell (bundled), `run = \"true\"`", None, '{ run = "true" }', {}),
            ("C: checksum (+ a shell step copying its input from /src)", dist / "checksum.wasm", '{ paths = ["input.txt"], output = "SUMS" }',
             {"input.txt": "hello\n"}),
            ("Python: junit (+ a shell step copying its input from /src)", dist / "junit.wasm", '{ reports = ["report.xml"] }', {"report.xml": xml}),
            ("JavaScript: release-notes", dist / "release-notes.wasm", '{ version = "1.0.0", artifacts = [] }', {}),
        ]
        self.md += ["## 5. Cold and warm start: `baton run` of a one-step pipeline", "",
                    "Cold: an empty compile cache (`BATON_CACHE_DIR` emptied before each run); warm: the "
                    "compiled plugin is in the cache. 'compile' and 'load' are the plugin's own times from "
                    "the run report (`plugins[].seconds`).", ""]
        rows, data = [], {}
        for name, wasm, config, files in plugins:
            if wasm is not None and not wasm.exists():
                rows.append((name, "—", "pending", "", "", "pending", "",
                             f"not built: `{wasm}` (scripts/build-plugins.sh)"))
                continue
            self.log(f"start: {name}")
            d = self.work / f"start-{len(data)}"
            d.mkdir(parents=True, exist_ok=True)
            # Every run starts in an empty workspace: inputs come from the
            # project (/src) through a first step that copies them.
            copy = ""
            for f, text in files.items():
                (d / f).write_text(text)
            if files:
                names = " ".join(files)
                copy = (f'[[boards.b.steps]]\nname = "inputs"\nplugin = "shell"\n'
                        f'with = {{ run = "cd $BATON_SRC && cp {names} $BATON_WORKSPACE/" }}\n\n')
            plugin = f'[plugins]\np = "{wasm}"\n\n' if wasm else ""
            (d / "baton.toml").write_text(
                f'[pipeline]\nname = "start"\njobs = 1\n\n{plugin}[policy]\nspawn = ["sh", "cp"]\n\n{copy}'
                f'[[boards.b.steps]]\nname = "s"\nplugin = "{"p" if wasm else "shell"}"\nwith = {config}\n')
            cache = d / "cache"
            env = dict(self.env, BATON_CACHE_DIR=str(cache))
            argv = [self.a.baton, "run", "-q", d / "baton.toml"]
            cold = self.hyperfine(argv, runs=self.runs_slow, warmup=0, prepare=f"rm -rf {cache} {d}/.baton/runs",
                                  env=env)
            compile_s = self.plugin_seconds(argv, env, fresh_cache=cache)
            warm = self.hyperfine(argv, runs=2 * self.runs, prepare=f"rm -rf {d}/.baton/runs", env=env)
            load_s = self.plugin_seconds(argv, env)
            size = wasm.stat().st_size if wasm else None
            data[name] = {"cold": cold, "warm": warm, "compile_s": compile_s, "load_s": load_s}
            rows.append((name, f"{size / 1024:,.0f} KiB" if size else "bundled", f"{cold['median']:.2f}",
                         f"{cold['min']:.2f}", f"{compile_s:.2f}", f"{warm['median'] * 1000:.1f}",
                         f"{warm['min'] * 1000:.1f}", f"{load_s * 1000:.1f}"))
            self.target(f"4. warm start under 50 ms, {name}", warm["median"] < 0.05,
                        f"{warm['median'] * 1000:.1f} ms median")
        self.table(["plugin", "size", "cold median s", "cold min s", "compile s", "warm median ms", "warm min ms",
                    "load ms"], rows)
        self.data["start"] = data
        self.tiered_compilation()

    def tiered_compilation(self):
        """Tiered compilation side by side (bench/tiered.py)."""
        self.log("start: tiered compilation (bench/tiered.py)")
        out = self.work / "tiered.md"
        subprocess.run([sys.executable, str(Path(__file__).parent / "tiered.py"), "--baton", str(self.a.baton),
                        "--guests", str(self.a.guests), "--plugins", str(self.a.plugins), "--md", str(out),
                        "--runs", "1" if self.quick else "3"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.md += ["## 5b. Tiered compilation (`BATON_COMPILER`)", "", *out.read_text().splitlines(), ""]

    def plugin_seconds(self, argv, env, fresh_cache=None):
        """The plugin's load (or compile) time that a run reports."""
        if fresh_cache:
            subprocess.run(["rm", "-rf", str(fresh_cache)], check=True)
        p = subprocess.run([str(x) for x in argv] + ["--json"], env=env, capture_output=True, text=True)
        plugins = json.loads(p.stdout)["plugins"]
        mine = [x for x in plugins if x["name"] == "p"] or plugins
        return mine[0]["seconds"] if mine else float("nan")

    # --- 6. memory ---------------------------------------------------------------

    def memory(self):
        probe = Path(self.a.guests) / "fixture_probe.wasm"
        waiters = 1000
        env = dict(self.env, BATON_MAX_STAGES=str(waiters + 100))
        cases = [(1, "", env), (waiters, "", env),
                 (waiters, "`BATON_POOLING=0` (diagnostic)", dict(env, BATON_POOLING="0"))]
        rows, data = [], []
        for n, label, case_env in cases:
            self.log(f"memory: {n} steps waiting on a signal {label}")
            d = self.waiting_pipeline(probe, n)
            samples = [self.waiting_run(d, case_env) for _ in range(1 if self.quick else 3)]
            r = {k: statistics.median(x[k] for x in samples) for k in ("waiting_kb", "peak_kb", "alive")}
            r.update(steps=n, label=label, status=samples[-1]["status"])
            data.append(r)
        base = data[0]
        for r in data:
            per = lambda k: f"{(r[k] - base[k]) / (r['steps'] - 1):.0f}" if r["steps"] > 1 else ""
            rows.append((f"{r['steps']:,} {r['label']}", f"{r['alive']:,.0f}", r["status"],
                         f"{r['waiting_kb'] / 1024:.1f}", per("waiting_kb"), f"{r['peak_kb'] / 1024:.1f}",
                         per("peak_kb")))
        self.md += [f"## 6. Memory: {waiters:,} steps alive at once, waiting on a signal", "",
                    "One step sleeps 3 s then emits `go`; the others wait for it inside their stage "
                    "(a waiting step gives its job slot back, so all are instantiated at once; "
                    f"`BATON_MAX_STAGES={waiters + 100}`). 'while waiting': RSS 2.5 s into the run; "
                    "'peak': max RSS of the whole run (getrusage). Per step: minus the 1-step run, ÷ steps. "
                    "The 10,000-step runs' peak RSS is in section 3.", ""]
        self.table(["waiting steps", "alive before the signal", "status", "RSS while waiting MB",
                    "KB/step", "peak RSS MB", "peak KB/step"], rows)
        self.data["memory"] = data
        self.target("5. memory of 1,000 steps waiting at once (no target)", None,
                    f"{(data[1]['waiting_kb'] - base['waiting_kb']) / (waiters - 1):.0f} KB/step while waiting, "
                    f"peak {(data[1]['peak_kb'] - base['peak_kb']) / (waiters - 1):.0f} KB/step")

    def waiting_pipeline(self, probe, n):
        d = self.work / f"waiting-{n}"
        d.mkdir(exist_ok=True)
        lines = ['[pipeline]\nname = "waiting"\njobs = 2\n', f'[plugins]\nprobe = "{probe}"\n',
                 '[[boards.e.steps]]\nname = "emit"\nplugin = "probe"\nemits = ["go"]\n'
                 'with = { ops = [{ op = "sleep", ms = 3000 }, { op = "emit", name = "go" }] }\n']
        for i in range(n):
            lines.append(f'[[boards.w.steps]]\nname = "w{i}"\nplugin = "probe"\nafter = []\n'
                         'with = { ops = [{ op = "wait", names = ["e.emit/go"] }] }\n')
        (d / "baton.toml").write_text("\n".join(lines))
        return d

    def waiting_run(self, d, env):
        """RSS while the steps wait, peak RSS, and how many waited at once."""
        subprocess.run(["rm", "-rf", str(d / ".baton")], check=True)
        report = self.work / "waiting.json"
        with open(report, "w") as out:
            p = subprocess.Popen([self.a.baton, "run", "-q", "--json", str(d / "baton.toml")], env=env, stdout=out,
                                 stderr=subprocess.DEVNULL)
            time.sleep(2.5)
            status = Path(f"/proc/{p.pid}/status").read_text()
            waiting = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:")))
            _, _, usage = os.wait4(p.pid, 0)
        r = json.loads(report.read_text())
        emitted = next(s["end"] for s in r["steps"] if s["id"] == "e.emit")
        alive = sum(1 for s in r["steps"] if s["board"] == "w" and s["start"] < emitted - 0.05)
        return {"waiting_kb": waiting, "peak_kb": usage.ru_maxrss, "alive": alive, "status": r["status"]}

    # --- 7. on workers (issue 14): cluster.py -------------------------------------

    def cluster(self):
        from cluster import ClusterBench
        c = ClusterBench(self)
        notes = c.run()
        if c.why_not:
            notes.insert(0, f"On workers: not measured: {c.why_not}.")
        if notes:
            self.md += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
        runs = c.data.get("graphs", {}).get("runs", {})
        for key, what in (("workers-4", "4 workers"), ("local-8", "local -j 8")):
            t = runs.get(key, {}).get("noop")
            if t:
                self.target(f"issue 14. noop steps/s, {what} (no target)", None,
                            f"{c.noop_n / t['median']:,.0f} steps/s")
        moved = c.data.get("kill", {}).get("again_s")
        if moved:
            self.target("issue 14. SIGKILL of a worker to its step running elsewhere (no target)", None,
                        f"{max(moved.values()):.2f} s")

    # --- report ------------------------------------------------------------------

    def machine(self):
        def first(cmd):
            try:
                return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
            except (OSError, IndexError):
                return "?"
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
        commit = first(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"])
        return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": os.cpu_count(),
                "cpu": model, "memory_gb": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
                "baton": commit, "ninja": first(["ninja", "--version"]), "make": first(["make", "--version"]),
                "hyperfine": first(["hyperfine", "--version"]), "mode": "quick" if self.quick else "full"}


def main():
    ap = argparse.ArgumentParser()
    for a in ("--baton", "--guests", "--plugins", "--spawn", "--work", "--out"):
        ap.add_argument(a, required=True)
    ap.add_argument("--floor", help="examples/step_floor.rs, built (the floor row)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    args = ap.parse_args()
    for a in ("baton", "guests", "plugins", "spawn", "work", "out"):
        setattr(args, a, str(Path(getattr(args, a)).resolve()))
    if args.floor:
        args.floor = str(Path(args.floor).resolve())
    only = args.only.split(",")
    unknown = set(only) - set(SECTIONS)
    if unknown:
        sys.exit(f"bench: unknown section {', '.join(sorted(unknown))} (expected {', '.join(SECTIONS)})")
    b = Bench(args)
    info = b.machine()
    load_before = os.getloadavg()
    started = time.time()
    for name in SECTIONS:
        if name in only:
            before = os.getloadavg()[0]
            getattr(b, name.replace("-", "_"))()
            b.md += [f"Load average (1 min) at the start of this section: {before:.2f}, at its end: "
                     f"{os.getloadavg()[0]:.2f}.", ""]
    load_after = os.getloadavg()
    info["load_before"] = " ".join(f"{x:.2f}" for x in load_before)
    info["load_after"] = " ".join(f"{x:.2f}" for x in load_after)
    info["minutes"] = round((time.time() - started) / 60, 1)
    head = [
        "# baton benchmark results", "",
        f"{info['date']}, {info['mode']} run ({info['minutes']} min), baton `{info['baton']}`. "
        f"Machine: {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, Linux {info['kernel']}. "
        f"Load average (1, 5, 15 min) before: {info['load_before']}, after: {info['load_after']}. "
        f"{info['ninja'] and 'ninja ' + info['ninja']}, {info['make']}, {info['hyperfine']}.", "",
        "## Targets", "",
        "| target | result | measured |", "|---|---|---|",
    ] + [f"| {n} | {m} | {v} |" for n, m, v in b.targets] + [""]
    text = "\n".join(head + b.md)
    # A --quick or partial run does not replace the full results.
    name = "latest" if not args.quick and set(only) == set(SECTIONS) else "partial"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text)
    (out / f"{name}.json").write_text(json.dumps({"machine": info, "targets": b.targets, **b.data}, indent=1,
                                                 default=str) + "\n")
    print(text)
    print(f"bench: written to {out / name}.md and {out / name}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
