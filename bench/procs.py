"""The long-lived processes a benchmark section starts (a NATS server, baton
workers, a coordinator in the background): each in a process group of its
own, its output read line by line and stamped with the time it arrived, and
every one of them stopped by `stop_all`, SIGTERM first, SIGKILL after 10 s.
"""
import collections
import os
import re
import signal
import subprocess
import threading
import time


# What a worker prints when it starts and ends an attempt
# (host/src/cluster/serve.rs).
START = re.compile(r"^worker (\S+): start (\S+) \(attempt (\d+), run (\S+)\)")
END = re.compile(r"^worker (\S+): end (\S+) \(attempt (\d+), run (\S+)\)")


def starts(lines, run=None, pattern=START):
    """(time read, worker, step id, attempt) of the workers' start lines
    (with pattern=END: end lines)."""
    for t, _, line in lines:
        m = pattern.match(line)
        if m and (run is None or m.group(4) == run):
            yield t, m.group(1), m.group(2), int(m.group(3))


class Unmeasured(Exception):
    """A figure that could not be measured; the message says why."""


class Proc:
    def __init__(self, name, popen):
        self.name = name
        self.popen = popen
        self.last = collections.deque(maxlen=20)
        self.reader = None

    def tail(self, n=3):
        lines = list(self.last)[-n:]
        return " / ".join(lines) if lines else "(no output)"

    def alive(self):
        return self.popen.poll() is None


class Procs:
    def __init__(self, work):
        self.work = work
        self.all = []
        self.lines = []  # (time.time(), process name, line)
        self.lock = threading.Lock()

    def start(self, name, argv, env=None):
        popen = subprocess.Popen([str(x) for x in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True, text=True,
                                 errors="replace")
        p = Proc(name, popen)
        self.all.append(p)

        def read():
            for line in popen.stdout:
                now = time.time()
                line = line.rstrip("\n")
                p.last.append(line)
                with self.lock:
                    self.lines.append((now, name, line))

        p.reader = threading.Thread(target=read, daemon=True)
        p.reader.start()
        return p

    def mark(self):
        with self.lock:
            return len(self.lines)

    def lines_since(self, mark):
        with self.lock:
            return list(self.lines[mark:])

    def kill(self, p):
        """SIGKILL of p's whole group (a machine that dies); returns when."""
        t = time.time()
        if p.alive():
            os.killpg(p.popen.pid, signal.SIGKILL)
        p.popen.wait()
        return t

    def stop(self, procs, patience=10.0):
        """SIGTERM to each group, SIGKILL to what is left after `patience`
        seconds; returns the names of those that needed SIGKILL."""
        procs = [p for p in procs if p.alive()]
        for p in procs:
            try:
                os.killpg(p.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + patience
        for p in procs:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        forced = []
        for p in procs:
            if p.alive():  # not reaped yet: its pid is still its group's id
                forced.append(p.name)
                try:
                    os.killpg(p.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.popen.wait()
            if p.reader:
                p.reader.join(timeout=2)
        return forced

    def stop_all(self):
        # Workers and coordinators before the server they talk to.
        order = sorted(self.all, key=lambda p: p.name.startswith("nats-server"))
        forced = self.stop([p for p in order if not p.name.startswith("nats-server")])
        forced += self.stop([p for p in order if p.name.startswith("nats-server")])
        self.all = []
        return forced
