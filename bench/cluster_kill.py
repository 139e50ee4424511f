"""Section `cluster`: SIGKILL of a worker while it runs steps. Measures
how long until the cluster stops listing it as live and, when this baton
can run pipelines on workers, until its steps run on the other worker.
"""
import json
import re
import subprocess
import time
from pathlib import Path

from procs import Unmeasured, starts

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
    """4 boards of one long step on 2 workers × 2 jobs: SIGKILL of the first
    worker seen starting one, 1 s later; until its steps start elsewhere."""
    cb.start_server("kill")
    workers, _ = cb.start_workers(2, "kill")
    cb.remote(kill_pipeline(cb, 2, 1), 2, warmup=0, runs=1)  # the workers compile the plugin
    d = kill_pipeline(cb, 4, 5000 if cb.quick else 8000)
    subprocess.run(["rm", "-rf", str(d / ".baton/runs")], check=True)
    mark = cb.procs.mark()
    coord = cb.procs.start("coordinator", [cb.a.baton, "run", "-q", "--nats", cb.url, d / "baton.toml"],
                           env=cb.b.env)
    by_name = {w.name.split()[-1]: w for w in workers}
    victim, seen_at, t_kill, gone, mine, again = None, None, None, None, set(), {}
    give_up = time.time() + 60
    while coord.alive() and time.time() < give_up:
        for t, w, step, _ in starts(cb.procs.lines_since(mark)):
            if not LONG.fullmatch(step):
                continue
            if victim is None:
                victim, seen_at = w, t
            if t_kill is None and w == victim:
                mine.add(step)
            elif t_kill is not None and w != victim and step in mine and t > t_kill:
                again.setdefault(step, t - t_kill)
        if victim and t_kill is None and time.time() - seen_at >= 1.0:
            t_kill = cb.procs.kill(by_name[victim])
            give_up = t_kill + 60
        if t_kill and gone is None and victim not in cb.live_workers():
            gone = time.time() - t_kill
        time.sleep(0.05)
    ended = not coord.alive()
    if t_kill is None:
        raise Unmeasured(f"no worker printed the start of a step within 60 s: {coord.tail()}")
    report = None
    if ended:
        found = list((d / ".baton/runs").glob("*/report.json"))
        report = json.loads(found[0].read_text()) if found else None
    attempts = {s["id"]: [(a["status"], a.get("worker"), a.get("error")) for a in s["attempts"]]
                for s in (report or {}).get("steps", []) if s["id"] in mine}
    return {"victim": victim, "killed_steps": sorted(mine), "gone_s": gone, "again_s": again, "run_ended": ended,
            "status": report["status"] if report else None, "attempts": attempts,
            "coordinator": coord.tail(5)}


def kill(cb):
    cb.b.log("cluster: SIGKILL of a worker")
    text = ["### SIGKILL of a worker", ""]
    try:
        if not cb.nats_bin.exists():
            raise Unmeasured(cb.why_not)
        if cb.why_not:
            r = detection_only(cb)
            text.append(f"Two workers; one is killed with SIGKILL. It stopped being listed as live by `baton "
                        f"workers` after **{r['gone_s']:.2f} s** (heartbeats every 1 s, lost after 5 s of "
                        f"silence). Its steps running elsewhere: not measured: {cb.why_not}.")
        else:
            r = with_steps(cb)
            moved = r["again_s"]
            where = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(moved.items()))
            gone = "not within 60 s" if r["gone_s"] is None else f"{r['gone_s']:.2f} s"
            text.append(f"Four boards of one long step on 2 workers × 2 jobs; the first worker seen starting "
                        f"one ({r['victim']}) is killed with SIGKILL 1 s later, while it runs "
                        f"{', '.join(r['killed_steps'])}. It stopped being listed as live by `baton workers` "
                        f"after {gone}. From the SIGKILL to the step's start on the other worker: "
                        f"**{where or 'never (no start line of those steps on another worker)'}**.")
            if r["run_ended"]:
                text.append(f"The run ended `{r['status']}`; the killed steps' attempts (status, worker, error): "
                            f"{r['attempts']}.")
            else:
                text.append("The run had not ended 60 s after the SIGKILL: the benchmark stopped it (SIGTERM). "
                            f"The coordinator's last lines: {r['coordinator']}.")
        cb.data["kill"] = r
    except Unmeasured as e:
        text.append(f"Not measured: {e}")
        cb.data["kill"] = {"error": str(e)}
    finally:
        cb.stop_everything()
    cb.b.md += text + [""]
