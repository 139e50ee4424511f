#!/usr/bin/env python3
"""Measures `baton serve` for BENCHMARKS.md, section "Live view".

1. latency from a line a step prints to the page's event stream: a shell
   step prints its wall clock (ns) every 20 ms; a client follows its log
   page's stream and subtracts the printed time from the receipt time
   (same machine, same clock); p50/p99 over the lines;
2. the run page of a 10,000-step run: server time to first byte and the
   whole page (curl-like, over loopback), and Chromium's wall time to load
   it and dump its DOM, next to a tiny page's (the browser's own start);
3. server CPU (user+sys of the `baton serve` process, from /proc) while 10
   clients follow the run page and the log page of a busy run.

usage: bench/serve.py --baton target/release/baton --guests DIR
"""

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_serve(baton, d, port):
    p = subprocess.Popen([baton, "serve", "--addr", f"127.0.0.1:{port}"], cwd=d, stderr=subprocess.PIPE, text=True)
    p.stderr.readline()
    return p


def latest_run(d):
    return sorted((Path(d) / ".baton/runs").iterdir())[-1].name


def follow(port, path, on_line, stop):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    while not stop.is_set():
        line = r.fp.readline()
        if not line:
            return
        on_line(line.decode(errors="replace").rstrip("\n"), time.time_ns())


def latency(baton):
    d = tempfile.mkdtemp(prefix="baton-serve-bench-")
    n = 300
    Path(d, "baton.toml").write_text(f"""
[policy]
spawn = ["sh"]
[[boards.a.steps]]
name = "clock"
plugin = "shell"
with = {{ run = "i=0; while [ $i -lt {n} ]; do date +%s%N; sleep 0.02; i=$((i+1)); done" }}
""")
    port = free_port()
    serve = start_serve(baton, d, port)
    run = subprocess.Popen([baton, "run"], cwd=d, stderr=subprocess.DEVNULL)
    while not (Path(d) / ".baton/runs").exists() or not list((Path(d) / ".baton/runs").iterdir()):
        time.sleep(0.01)
    time.sleep(0.2)
    rid = latest_run(d)
    samples = []
    stop = threading.Event()

    def on_line(line, now):
        if line.startswith("data: ") and '"lines"' in line:
            import json
            for l in json.loads(line[6:])["lines"]:
                word = l.rsplit(" ", 1)[-1]
                if word.isdigit() and len(word) >= 18:
                    samples.append((now - int(word)) / 1e6)

    t = threading.Thread(target=follow, args=(port, f"/runs/{rid}/events?step=a.clock&from=0.0", on_line, stop), daemon=True)
    t.start()
    run.wait()
    time.sleep(0.5)
    stop.set()
    serve.terminate()
    samples.sort()
    if not samples:
        return "no samples"
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return f"{len(samples)} lines: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {samples[-1]:.1f} ms"


def big_page(baton, noop):
    d = tempfile.mkdtemp(prefix="baton-serve-bench-")
    boards = []
    for b in range(100):
        for s in range(100):
            boards.append(f'[[boards.b{b}.steps]]\nname = "s{s}"\nplugin = "noop"\n')
    Path(d, "baton.toml").write_text(f'[plugins]\nnoop = "{noop}"\n[pipeline]\njobs = 2\n' + "\n".join(boards))
    subprocess.run([baton, "run", "--quiet"], cwd=d, check=True, stderr=subprocess.DEVNULL)
    rid = latest_run(d)
    port = free_port()
    serve = start_serve(baton, d, port)
    times = []
    size = 0
    for _ in range(5):
        t0 = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", f"/runs/{rid}")
        r = c.getresponse()
        first = r.read(1)
        t1 = time.perf_counter()
        body = first + r.read()
        t2 = time.perf_counter()
        size = len(body)
        times.append((t1 - t0, t2 - t0))
    ttfb = statistics.median(t[0] for t in times) * 1000
    whole = statistics.median(t[1] for t in times) * 1000

    def chromium(url):
        prof = tempfile.mkdtemp(prefix="baton-chromium-")
        t0 = time.perf_counter()
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", f"--user-data-dir={prof}", "--dump-dom", url],
                       capture_output=True, check=True)
        return time.perf_counter() - t0

    tiny = statistics.median(chromium(f"http://127.0.0.1:{port}/assets/page.css") for _ in range(3)) * 1000
    page = statistics.median(chromium(f"http://127.0.0.1:{port}/runs/{rid}") for _ in range(3)) * 1000
    rss = int([l for l in Path(f"/proc/{serve.pid}/status").read_text().splitlines() if l.startswith("VmRSS")][0].split()[1])
    serve.terminate()
    return (f"10,000 steps: page {size / 1024:.0f} KiB; server first byte {ttfb:.0f} ms, whole page {whole:.0f} ms; "
            f"Chromium load + DOM dump {page:.0f} ms vs {tiny:.0f} ms for a tiny page (+{page - tiny:.0f} ms); "
            f"server RSS after {rss / 1024:.0f} MiB")


def busy_cpu(baton, clients=10):
    d = tempfile.mkdtemp(prefix="baton-serve-bench-")
    steps = []
    for s in range(20):
        steps.append(f'[[boards.b{s % 4}.steps]]\nname = "s{s}"\nplugin = "shell"\n'
                     f'with = {{ run = "i=0; while [ $i -lt 200 ]; do echo line $i of a busy step; sleep 0.01; i=$((i+1)); done" }}\n')
    Path(d, "baton.toml").write_text('[policy]\nspawn = ["sh"]\n[pipeline]\njobs = 4\n' + "\n".join(steps))
    port = free_port()
    serve = start_serve(baton, d, port)
    run = subprocess.Popen([baton, "run", "--quiet"], cwd=d, stderr=subprocess.DEVNULL)
    while not (Path(d) / ".baton/runs").exists() or not list((Path(d) / ".baton/runs").iterdir()):
        time.sleep(0.01)
    time.sleep(0.1)
    rid = latest_run(d)
    stop = threading.Event()
    events = [0]

    def count(line, now):
        if line.startswith("event:"):
            events[0] += 1

    c0, t0 = cpu_seconds(serve.pid), time.perf_counter()
    for k in range(clients):
        path = f"/runs/{rid}/events?from=0.0" if k % 2 == 0 else f"/runs/{rid}/events?from=0.0&step=b{k % 4}.s{k % 4}"
        threading.Thread(target=follow, args=(port, path, count, stop), daemon=True).start()
    run.wait()
    time.sleep(0.5)
    c1, t1 = cpu_seconds(serve.pid), time.perf_counter()
    stop.set()
    serve.terminate()
    return (f"{clients} clients over {t1 - t0:.1f} s of a run of 20 steps printing 100 lines/s each (4 at once): "
            f"server CPU {c1 - c0:.2f} s = {100 * (c1 - c0) / (t1 - t0):.1f}% of a core; {events[0]} events sent")


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--baton", required=True)
    a.add_argument("--guests", required=True)
    args = a.parse_args()
    baton = str(Path(args.baton).resolve())
    print("latency, step line -> event stream:", latency(baton), flush=True)
    print("run page:", big_page(baton, str(Path(args.guests) / "fixture_noop.wasm")), flush=True)
    print("server CPU:", busy_cpu(baton), flush=True)


if __name__ == "__main__":
    sys.exit(main())
