"""Section `cluster` of bench.py (issue 14): baton on workers over NATS.

Starts its own NATS server (`$BATON_VENV/bin/nats-server`, installed by
`./setup.sh --deps`) on loopback with a store of its own, then 1, 2 and 4
`baton worker` processes on this machine (2 job slots each), and runs the
same graphs locally (`baton run -j 2N`) and on the N workers (`baton run
--nats`): the same number of job slots either way. Every process it starts
is in a process group of its own and is stopped (SIGTERM, then SIGKILL)
when the section ends, whatever happened.

Graphs are those of sections 2 and 4, spread over boards round robin
(`gen_graph.py --boards`): a board runs on one worker at a time, so a
one-board graph could not use more than one worker.
"""
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cluster_cases import WORKER_JOBS, artifact, graphs
from cluster_kill import kill
from procs import END, Procs, Unmeasured, starts

HERE = Path(__file__).resolve().parent


class ClusterBench:
    def __init__(self, bench):
        self.b = bench
        self.a = bench.a
        self.quick = bench.quick
        self.work = bench.work / "cluster"
        self.work.mkdir(parents=True, exist_ok=True)
        self.procs = Procs(self.work)
        self.runs = 2 if self.quick else 3
        self.counts = (1, 2, 4)
        self.noop_n = 200 if self.quick else 1000
        self.chain_n = 50 if self.quick else 200
        self.make_n = 40 if self.quick else 200
        self.server = None
        self.url = None
        self.notes = []
        self.data = {}
        venv = os.environ.get("BATON_VENV", str(Path.home() / ".cache/baton/venv"))
        self.nats_bin = Path(venv) / "bin/nats-server"
        # Can this baton run a pipeline on workers at all?
        help_text = subprocess.run([self.a.baton, "run", "--help"], capture_output=True, text=True).stdout
        self.why_not = None
        if not self.nats_bin.exists():
            self.why_not = f"no NATS server at `{self.nats_bin}` (`./setup.sh --deps` installs it)"
        elif "--nats" not in help_text:
            self.why_not = ("this baton's `run` has no `--nats` yet (issue 14's coordinator and workers are not "
                            "on this commit): `baton worker` only joins and heartbeats")

    # --- processes ------------------------------------------------------------

    def start_server(self, tag):
        d = self.work / f"nats-{tag}"
        subprocess.run(["rm", "-rf", str(d)], check=True)
        d.mkdir(parents=True)
        p = self.procs.start(f"nats-server ({tag})",
                             [self.nats_bin, "-js", "-sd", d / "store", "-a", "127.0.0.1", "-p", "-1",
                              "--ports_file_dir", d])
        deadline = time.time() + 15
        while time.time() < deadline:
            ports = list(d.glob("nats-server_*.ports"))
            if ports and ports[0].read_text().strip():
                nats = json.loads(ports[0].read_text())["nats"][0]
                self.url = nats if "://" in nats else f"nats://{nats}"
                self.server = p
                return
            if p.popen.poll() is not None:
                raise Unmeasured(f"nats-server exited: {p.tail()}")
            time.sleep(0.05)
        raise Unmeasured(f"nats-server wrote no ports file in 15 s: {p.tail()}")

    def start_workers(self, n, tag, labels=None):
        """n workers, each with a directory of its own; waits until `baton
        workers` lists them all; returns them and how long joining took."""
        t0 = time.time()
        workers = []
        for i in range(n):
            name = f"{tag}-w{i}"
            argv = [self.a.baton, "worker", "--nats", self.url, "--name", name, "--jobs", WORKER_JOBS,
                    "--dir", self.work / "workers" / name]
            for label in (labels or {}).get(i, []):
                argv += ["--label", label]
            workers.append(self.procs.start(f"worker {name}", argv, env=self.b.env))
        want = {w.name.split()[-1] for w in workers}
        while True:
            live = self.live_workers()
            if want <= live:
                return workers, time.time() - t0
            dead = [w for w in workers if w.popen.poll() is not None]
            if dead:
                raise Unmeasured(f"{dead[0].name} exited: {dead[0].tail()}")
            if time.time() - t0 > 30:
                raise Unmeasured(f"only {sorted(live)} of {sorted(want)} joined in 30 s")
            time.sleep(0.1)

    def live_workers(self):
        p = subprocess.run([self.a.baton, "workers", "--nats", self.url, "--json"], capture_output=True, text=True,
                           env=self.b.env, timeout=30)
        try:
            return {w["name"] for w in json.loads(p.stdout or "[]")}
        except (ValueError, TypeError, KeyError):
            return set()

    # --- timing -----------------------------------------------------------------

    def timed(self, d, argv_tail, warmup=1, runs=None, timeout=600):
        """Runs `baton run` of d warmup + runs times (run directories removed
        before each); returns min/median wall and the timed runs' reports."""
        walls, reports = [], []
        for i in range(warmup + (runs or self.runs)):
            subprocess.run(["rm", "-rf", str(d / ".baton/runs")], check=True)
            argv = [self.a.baton, "run", "-q", *argv_tail, d / "baton.toml"]
            mark = self.procs.mark()
            t0 = time.perf_counter()
            try:
                p = subprocess.run([str(x) for x in argv], capture_output=True, text=True, env=self.b.env,
                                   timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Unmeasured(f"`baton run {' '.join(map(str, argv_tail))}` did not end in {timeout} s")
            wall = time.perf_counter() - t0
            if p.returncode != 0:
                raise Unmeasured(f"`baton run {' '.join(map(str, argv_tail))}` exited {p.returncode}: "
                                 f"{self.why_failed(d, p)}")
            if i >= warmup:
                walls.append(wall)
                report = json.loads(next((d / ".baton/runs").glob("*/report.json")).read_text())
                report["_lines"] = self.procs.lines_since(mark)
                reports.append(report)
        return {"median": statistics.median(walls), "min": min(walls), "runs": len(walls), "reports": reports}

    @staticmethod
    def why_failed(d, p):
        """The run's summary line and its first failures' errors."""
        summary = next((l for l in (p.stderr or p.stdout).splitlines() if l.startswith("run ")), "")
        found = list((d / ".baton/runs").glob("*/report.json"))
        if not found:
            return summary or " / ".join((p.stderr or p.stdout).strip().splitlines()[-3:])
        failed = [s for s in json.loads(found[0].read_text())["steps"] if s["status"] == "failed"]
        errors = "; ".join(f"{s['id']}: {s['error']}" for s in failed[:2])
        return f"{summary}; first failures: {errors}" if errors else summary

    def local(self, d, slots, **kw):
        return self.timed(d, ["-j", slots], **kw)

    def remote(self, d, slots, **kw):
        return self.timed(d, ["--nats", self.url, "-j", slots], **kw)

    def gen(self, shape, n, plugin, boards, sleep_ms=None, seed=1):
        d = self.work / f"{shape}-{n}-b{boards}" if not sleep_ms else self.work / f"{shape}-{n}-b{boards}-sleep"
        if not (d / "baton.toml").exists():
            cmd = [sys.executable, str(HERE / "gen_graph.py"), shape, str(n), str(d), "--plugin", str(plugin),
                   "--seed", str(seed), "--boards", str(boards)]
            if sleep_ms:
                cmd += ["--sleep-ms", sleep_ms]
            subprocess.run(cmd, check=True)
        return d

    # --- what a report says -------------------------------------------------------

    @staticmethod
    def attempts(report):
        for s in report["steps"]:
            for a in s["attempts"]:
                yield s, a

    def hops(self, reports, remote):
        """In a chain, from the end of a step to the start of the next (which
        became ready then): on workers, from the worker's `end` line to the
        next `start` line, as the benchmark read them (relay of the end to the
        coordinator, scheduling, the queue, the claim); locally, from the
        run report (`attempts[].end` of one, `start` of the next). A remote
        run whose workers printed no start line gives nothing (not the
        report's figures, which would be the coordinator's alone)."""
        out = []
        for r in reports:
            by_id = {s["id"]: s for s in r["steps"]}
            started = {st: t for t, _, st, n in starts(r["_lines"], r["run_id"]) if n == 1}
            ended = {st: t for t, _, st, n in starts(r["_lines"], r["run_id"], END) if n == 1}
            for s in r["steps"]:
                if len(s["deps"]) != 1 or not s["attempts"]:
                    continue
                dep = s["deps"][0]
                if remote:
                    if s["id"] in started and dep in ended:
                        out.append(started[s["id"]] - ended[dep])
                elif by_id[dep]["attempts"]:
                    out.append(s["attempts"][0]["start"] - by_id[dep]["attempts"][0]["end"])
        return out

    @staticmethod
    def workers_used(reports):
        """How many workers printed a start line in each run (the smallest)."""
        return min(len({w for _, w, _, _ in starts(r["_lines"], r["run_id"])}) for r in reports)

    # --- the section ----------------------------------------------------------------

    def stop_everything(self):
        """Stops every process started so far (workers before the server)."""
        left = self.procs.stop_all()
        if left:
            self.notes.append(f"processes that did not stop within 10 s of SIGTERM (then SIGKILLed): "
                              f"{', '.join(left)}")

    def run(self):
        # SIGTERM (or Ctrl-C) of the benchmark still stops what it started.
        before = signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: stopped by SIGTERM"))
        try:
            self.measure()
        finally:
            self.stop_everything()
            signal.signal(signal.SIGTERM, before)
        self.b.data["cluster"] = self.data
        return self.notes

    def measure(self):
        graphs(self)
        artifact(self)
        kill(self)
