"""What section `cluster` measures (see cluster.py for the set-up): the
graphs locally and on 1, 2 and 4 workers, a 64 MiB artifact, and a worker's
SIGKILL. Each figure that cannot be measured says why instead of a number.
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

from procs import Unmeasured, starts

BOARDS = 8
MIB64 = 64 * 1024 * 1024
WORKER_JOBS = 2


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v) + 0.5) - 1))] if v else float("nan")


COLUMNS = ["where", "slots", "noop steps/s", "noop s", "chain ms/step", "ready → start p50 / p99 ms",
           "makespan s", "÷ LB", "run alone ÷ LB", "workers used", "join s"]


def ms(x):
    return f"{x * 1000:.2f}"


def unmeasured_row(label, slots, join=None):
    row = [label, slots, "not measured"] + [""] * (len(COLUMNS) - 3)
    row[-1] = "" if join is None else f"{join:.2f}"
    return row


def lower_bound(d, slots):
    g = json.loads((d / "durations.json").read_text())
    dur, deps, finish = g["durations_ms"], g["deps"], []
    for i, ds in enumerate(deps):
        finish.append(dur[i] + max((finish[j] for j in ds), default=0))
    cp, total = max(finish) / 1000, sum(dur) / 1000
    return max(cp, total / slots), cp, total


def graph_row(cb, label, slots, run, wide, chain, mk, workers=0):
    """One row of the graphs table: `run(d, slots)` times each graph; one
    that cannot be measured says so in its cells and in the notes. With
    `workers`, each graph gets a fresh server and workers of its own, so
    that what one graph leaves on the server cannot fail the next."""
    data = {"slots": slots, "join_s": []}
    remote = run == cb.remote

    def each(name, width, measure):
        try:
            if workers:
                cb.start_server(f"{name}-{workers}")
                data["join_s"].append(cb.start_workers(workers, f"{name}{workers}")[1])
            return measure()
        except Unmeasured as e:
            cb.notes.append(f"{label}, {name}: {e}")
            data[f"{name} error"] = str(e)
            return ["failed (see notes)"] + [""] * (width - 1)
        finally:
            if workers:
                cb.stop_everything()

    def noop():
        t = run(wide, slots)
        data["noop"] = {k: t[k] for k in ("median", "min")}
        return [f"{cb.noop_n / t['median']:,.0f}", f"{t['median']:.2f}"]

    def hop():
        t = run(chain, slots)
        hops = cb.hops(t["reports"], remote)
        data["chain"] = {"median": t["median"], "ready_to_start": hops}
        return [f"{t['median'] / cb.chain_n * 1000:.2f}",
                f"{ms(pct(hops, 50))} / {ms(pct(hops, 99))} ({len(hops)})" if hops else "not measured"]

    def makespan():
        lb = lower_bound(mk, slots)[0]
        t = run(mk, slots)
        alone = sorted(r["duration"] for r in t["reports"])[len(t["reports"]) // 2]
        data["makespan"] = {"median": t["median"], "min": t["min"], "lower_bound": lb, "report": alone}
        used = cb.workers_used(t["reports"]) if remote else ""
        return [f"{t['median']:.2f}", f"{t['median'] / lb:.3f}", f"{alone / lb:.3f}", str(used)]

    cells = [label, slots] + each("noop", 2, noop) + each("chain", 2, hop) + each("makespan", 4, makespan)
    cells.append(f"{max(data['join_s']):.2f}" if data["join_s"] else "")
    return cells, data


def graphs(cb):
    guests = Path(cb.a.guests)
    noop, probe = guests / "fixture_noop.wasm", guests / "fixture_probe.wasm"
    wide = cb.gen("wide", cb.noop_n, noop, BOARDS)
    chain = cb.gen("chain", cb.chain_n, noop, BOARDS)
    mk = cb.gen("random", cb.make_n, probe, BOARDS, sleep_ms="20-200", seed=7)
    _, cp, total = lower_bound(mk, 1)
    rows, data = [], {}
    for n in cb.counts:
        slots = n * WORKER_JOBS
        cb.b.log(f"cluster: graphs locally, {slots} jobs")
        row, data[f"local-{slots}"] = graph_row(cb, f"local, `-j {slots}`", slots, cb.local, wide, chain, mk)
        rows.append(row)
        label = f"{n} worker{'s' if n > 1 else ''} × {WORKER_JOBS} jobs"
        if cb.why_not:
            rows.append(unmeasured_row(label, slots))
            continue
        cb.b.log(f"cluster: graphs on {n} workers")
        row, data[f"workers-{n}"] = graph_row(cb, label, slots, cb.remote, wide, chain, mk, workers=n)
        rows.append(row)
    cb.b.md += [
        f"## 7. Running on workers (issue 14): {cb.noop_n:,} noop steps, a {cb.chain_n}-step chain, "
        f"a {cb.make_n}-step makespan DAG", "",
        f"A NATS server (JetStream, loopback, its own store) and N `baton worker` processes with `--jobs "
        f"{WORKER_JOBS}` on this machine, against a local `baton run -j 2N` (the same job slots). The graphs "
        f"are those of sections 2–4 spread round robin over {BOARDS} boards (a board runs on one worker at a "
        "time). 'noop': the wide graph, whole `baton run` process (median of "
        f"{cb.runs}, after 1 warm-up). 'chain ms/step': a chain (each step after the previous, alternating "
        "boards) ÷ steps: the round trip of one step. 'ready → start': in the chain, from the end of a step "
        "(which makes the next one ready) to the start of the next, p50 / p99 over the hops of the timed runs "
        "(their count in brackets): on workers, between the `end` and `start` lines the workers print, "
        "read by the benchmark as they come (the run report has no worker-side start: its `start` is when "
        "the coordinator handed the attempt over); locally, from the run report's `end` and `start`. "
        "Makespan: "
        f"critical path {cp:.2f} s, total work {total:.2f} s, LB = max(critical path, total ÷ slots); "
        "'run alone' uses the report's `duration`. Each graph on workers gets a fresh server and fresh "
        "workers (their compile caches warmed by the warm-up run); 'join s': from starting the workers to "
        "`baton workers` listing them all (the slowest of the three starts).", ""]
    cb.b.table(COLUMNS, rows)
    cb.data["graphs"] = {"critical_path": cp, "total": total, "boards": BOARDS, "runs": data}


def artifact_pipeline(cb, runs_on):
    probe = Path(cb.a.guests) / "fixture_probe.wasm"
    d = cb.work / ("artifact-runs-on" if runs_on else "artifact")
    d.mkdir(exist_ok=True)
    on = (lambda role: f'[boards.{role}]\nruns_on = {{ role = "{role}" }}\n\n') if runs_on else (lambda role: "")
    (d / "baton.toml").write_text(
        f'[pipeline]\nname = "artifact"\njobs = 2\n\n[plugins]\nprobe = "{probe}"\n\n'
        '[policy]\nspawn = ["sh", "head"]\n\n'
        f'{on("a")}{on("b")}'
        f'[[boards.a.steps]]\nname = "make"\nplugin = "shell"\n'
        f'with = {{ run = "head -c {64 * 1024 * 1024} /dev/urandom > big" }}\n\n'
        '[[boards.a.steps]]\nname = "put"\nplugin = "probe"\nafter = ["make"]\n'
        'with = { ops = [{ op = "put", name = "big", path = "big" }] }\n\n'
        '[[boards.b.steps]]\nname = "get"\nplugin = "probe"\nafter = ["a.put"]\n'
        'with = { ops = [{ op = "get", reference = "a.put/big", dest = "big" }] }\n')
    ok = subprocess.run([cb.a.baton, "check", "--file", d / "baton.toml"], capture_output=True, text=True)
    if ok.returncode != 0:
        if not runs_on:
            raise Unmeasured(f"the artifact pipeline does not check: {ok.stderr.strip()[-300:]}")
        return None
    return d


def transfer(cb, t):
    """MB/s (10^6 bytes) of the put and the get, from their attempts' times."""
    out = {}
    for step in ("a.put", "b.get"):
        secs = []
        for r in t["reports"]:
            s = next(s for s in r["steps"] if s["id"] == step)
            a = s["attempts"][-1]
            secs.append(a["end"] - a["start"])
            on = [w for _, w, st, _ in starts(r["_lines"], r["run_id"]) if st == step]
            out[f"{step} worker"] = on[-1] if on else "local"
        sec = sorted(secs)[len(secs) // 2]
        out[step] = {"seconds": sec, "mb_s": (64 * 1024 * 1024) / sec / 1e6}
    return out


def object_store(cb, data):
    """The object store alone: put and get of 64 MiB by bench/nats_obj.py."""
    label = "NATS object store alone (`bench/nats_obj.py`)"
    if not cb.nats_bin.exists():
        return [label, "not measured", "", f"no `{cb.nats_bin}`"]
    cb.b.log("cluster: 64 MiB through the object store alone")
    try:
        cb.start_server("objstore")
        p = subprocess.run([sys.executable, str(Path(__file__).parent / "nats_obj.py"), cb.url, str(MIB64),
                            str(cb.runs + 1)], capture_output=True, text=True, timeout=300)
        cb.stop_everything()
        if p.returncode != 0:
            raise Unmeasured(f"nats_obj.py exited {p.returncode}: {p.stderr.strip()[-300:]}")
        runs = json.loads(p.stdout)[1:]  # the first is a warm-up
        put = statistics.median(r["put_s"] for r in runs)
        get = statistics.median(r["get_s"] for r in runs)
        data["object_store"] = {"put_s": put, "get_s": get, "runs": runs}
        return [label, f"{MIB64 / put / 1e6:.0f}", f"{MIB64 / get / 1e6:.0f}", "loopback, one connection"]
    except (Unmeasured, subprocess.TimeoutExpired) as e:
        cb.stop_everything()
        cb.notes.append(f"object store alone: {e}")
        return [label, "not measured", "", ""]


def artifact(cb):
    rows, data = [], {}
    cb.b.log("cluster: 64 MiB artifact, locally")
    try:
        d = artifact_pipeline(cb, runs_on=False)
        data["local"] = transfer(cb, cb.local(d, 2))
        rows.append(["local", f"{data['local']['a.put']['mb_s']:.0f}", f"{data['local']['b.get']['mb_s']:.0f}", ""])
    except Unmeasured as e:
        rows.append(["local", "not measured", "", ""])
        cb.notes.append(f"artifact, local: {e}")
    rows.append(object_store(cb, data))
    if cb.why_not:
        rows.append(["2 workers", "not measured", "", ""])
    else:
        cb.b.log("cluster: 64 MiB artifact, 2 workers")
        try:
            d = artifact_pipeline(cb, runs_on=True)
            labels = {0: ["role=a"], 1: ["role=b"]} if d else None
            if d is None:
                cb.notes.append("artifact: `runs_on` is not accepted by `baton check` yet: the boards were "
                                "placed by the coordinator, maybe on the same worker")
                d = artifact_pipeline(cb, runs_on=False)
            cb.start_server("artifact")
            workers, _ = cb.start_workers(2, "art", labels=labels)
            data["workers"] = r = transfer(cb, cb.remote(d, 2))
            rows.append(["2 workers", f"{r['a.put']['mb_s']:.0f}", f"{r['b.get']['mb_s']:.0f}",
                         f"put on {r['a.put worker']}, get on {r['b.get worker']}"])
            cb.stop_everything()
        except Unmeasured as e:
            cb.stop_everything()
            rows.append(["2 workers", "not measured", "", ""])
            cb.notes.append(f"artifact, 2 workers: {e}")
    cb.b.md += ["### 64 MiB artifact", "",
                "Board `a` writes 64 MiB of random bytes (a shell step) and publishes them (`put`, a probe step); "
                "board `b` fetches them (`get`). MB/s = 64 MiB (10⁶ bytes) ÷ the attempt's own time in the "
                "report (median of the timed runs): a publish into the run's store (on workers: also into the "
                "object store) and a fetch with its digest checked. 'object store alone': a put and a get of "
                "64 MiB of random bytes by a minimal client of the benchmark's own (`bench/nats_obj.py`: "
                "512 KiB chunks as baton's `cluster::blobs`, sha256 on put and checked on get), i.e. what "
                "the server and one connection allow, apart from baton (median of "
                f"{cb.runs}, after 1 warm-up).", ""]
    cb.b.table(["where", "publish MB/s", "fetch MB/s", "placement"], rows)
    cb.data["artifact"] = data
