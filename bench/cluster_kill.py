"""Section `cluster`: SIGKILL of a worker while it runs steps. Measures
how long until the cluster stops listing it as live and, when this baton
can run pipelines on workers, until its steps run on the other worker.
"""
import json
import re
import subprocess
import time
from pathlib import Path

from procs import Unmeasured

LONG = re.compile(r"\b(k\d+\.long)\b")


def kill_pipeline(cb, boards, ms):
    probe = Path(cb.a.guests) / "fixture_probe.wasm"
    d = cb.work / "kill"
    d.mkdir(exist_ok=True)
    text = f'[pipeline]\nname = "kill"\njobs = {boards}\n\n[plugins]\nprobe = "{probe}"\n\n'
    for i in range(boards):
        text += (f'[[boards.k{i}.steps]]\nname = "long"\nplugin = "probe"\n'
                 f'with = {{ ops = [{{ op = "sleep", ms = {ms} }}] }}\n\n')
    (d / "baton.toml").write_text(text)
    return d


def wait_gone(cb, name, since, limit=60):
    """Seconds from `since` until `baton workers` no longer lists `name`."""
    while time.time() - since < limit:
        if name not in cb.live_workers():
            return time.time() - since
        time.sleep(0.1)
    raise Unmeasured(f"worker {name} was still listed as live {limit} s after its SIGKILL")


def detection_only(cb):
    cb.start_server("kill")
    workers, _ = cb.start_workers(2, "kill")
    victim = workers[0]
    t_kill = cb.procs.kill(victim)
    gone = wait_gone(cb, victim.name.split()[-1], t_kill)
    cb.stop_everything()
    return {"gone_s": gone}


def with_steps(cb):
    """4 boards of one 8 s step on 2 workers × 2 jobs: SIGKILL of the first
    worker seen running one, 1 s after; until those steps run elsewhere."""
    cb.start_server("kill")
    workers, _ = cb.start_workers(2, "kill")
    # A warm-up run: the workers compile the plugin once.
    cb.remote(kill_pipeline(cb, 2, 1), 2, warmup=0, runs=1)
    d = kill_pipeline(cb, 4, 5000 if cb.quick else 8000)
    subprocess.run(["rm", "-rf", str(d / ".baton/runs")], check=True)
    mark = cb.procs.mark()
    coord = cb.procs.start("coordinator", [cb.a.baton, "run", "-q", "--nats", cb.url, d / "baton.toml"],
                           env=cb.b.env)
    by_name = {w.name: w for w in workers}
    victim, seen_at, t_kill, gone, again = None, None, None, None, {}
    deadline = time.time() + 120
    while coord.alive() and time.time() < deadline:
        for t, who, line in cb.procs.lines_since(mark):
            m = LONG.search(line)
            if not m or who not in by_name:
                continue
            if victim is None:
                victim, seen_at = by_name[who], t
            elif t_kill is not None and who != victim.name and t > t_kill:
                again.setdefault(m.group(1), t)
        if victim and t_kill is None and time.time() - seen_at >= 1.0:
            mine = {LONG.search(l).group(1) for _, w, l in cb.procs.lines_since(mark)
                    if w == victim.name and LONG.search(l)}
            t_kill = cb.procs.kill(victim)
        if t_kill and gone is None and victim.name.split()[-1] not in cb.live_workers():
            gone = time.time() - t_kill
        time.sleep(0.05)
    if coord.alive():
        raise Unmeasured(f"the run did not end within 120 s: {coord.tail()}")
    if t_kill is None:
        raise Unmeasured("no worker printed a line naming a step (`k0.long` …): nothing to kill")
    report = json.loads(next((d / ".baton/runs").glob("*/report.json")).read_text())
    steps = {s["id"]: s for s in report["steps"] if s["id"] in mine}
    moved = {k: again[k] - t_kill for k in mine if k in again}
    cb.stop_everything()
    return {"status": report["status"], "killed_steps": sorted(mine), "gone_s": gone, "again_s": moved,
            "attempts": {k: [(a["status"], a.get("worker"), a.get("error")) for a in s["attempts"]]
                         for k, s in steps.items()}}


def kill(cb):
    cb.b.log("cluster: SIGKILL of a worker")
    text = ["### SIGKILL of a worker", ""]
    try:
        if cb.why_not:
            r = detection_only(cb)
            text.append(f"Two workers; one is killed with SIGKILL. It stopped being listed as live by `baton "
                        f"workers` after **{r['gone_s']:.2f} s** (heartbeats every 1 s, lost after 5 s of "
                        f"silence). Its steps running elsewhere: not measured: {cb.why_not}.")
        else:
            r = with_steps(cb)
            moved = r["again_s"]
            where = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(moved.items())) or "none seen on a worker's output"
            text.append(f"Four boards of one long step on 2 workers × 2 jobs; the first worker seen running one "
                        f"is killed with SIGKILL 1 s later (steps {', '.join(r['killed_steps'])}). From the "
                        f"SIGKILL to the step's first line on the other worker: **{where}**; to the worker "
                        f"no longer listed live: {r['gone_s'] if r['gone_s'] is None else round(r['gone_s'], 2)} s. "
                        f"The run ended `{r['status']}`; the killed steps' attempts (status, worker, error): "
                        f"{r['attempts']}.")
        cb.data["kill"] = r
    except Unmeasured as e:
        text.append(f"Not measured: {e}")
        cb.data["kill"] = {"error": str(e)}
    finally:
        cb.stop_everything()
    cb.b.md += text + [""]
