#!/usr/bin/env python3
"""Generates the same step graph for baton, ninja and make.

    gen_graph.py SHAPE N OUT_DIR [--plugin PATH] [--sleep-ms MS] [--seed S] [--deps D] [--boards K]

SHAPE is `wide` (N independent steps), `chain` (each step after the previous)
or `random` (a random DAG: each step depends on up to D earlier ones, D=3 by
default). Each node either runs the plugin (baton) / `true` (ninja, make),
or, with --sleep-ms, sleeps that long (baton: a step that sleeps inside the
stage with the probe fixture's `sleep` op; ninja/make: `sleep`). ninja and
make run exactly one process per node and write no files: ninja reruns
edges whose outputs are missing and every make target is .PHONY, so every
invocation runs every node, like every `baton run`. Writes OUT_DIR/baton.toml,
build.ninja and Makefile, and OUT_DIR/durations.json (per node: ms and deps)
for lower bounds. With --boards K (default 1: one board `g`), node i goes to
board `g<i mod K>` and edges between boards become cross-board edges: the
same graph, in K units that workers can place apart (a board runs on one
worker at a time).
"""
import argparse
import json
import os
import random


def edges(shape, n, deps, rng):
    for i in range(n):
        if shape == "wide" or i == 0:
            yield i, []
        elif shape == "chain":
            yield i, [i - 1]
        else:
            k = rng.randint(0, min(deps, i))
            yield i, sorted(rng.sample(range(max(0, i - 200), i), min(k, i - max(0, i - 200))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=["wide", "chain", "random"])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--plugin", default=None, help="plugin .wasm for baton steps (default: none, sync points)")
    ap.add_argument("--sleep-ms", type=str, default=None,
                    help="per-step duration in ms, or a range `a-b` drawn at random")
    ap.add_argument("--deps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--boards", type=int, default=1, help="spread the nodes over K boards (round robin)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    graph = list(edges(args.shape, args.n, args.deps, rng))

    def duration(i):
        if args.sleep_ms is None:
            return 0
        if "-" in args.sleep_ms:
            a, b = (int(x) for x in args.sleep_ms.split("-"))
            return rng.randint(a, b)
        return int(args.sleep_ms)

    durations = {i: duration(i) for i, _ in graph}
    toml = ["[pipeline]", f'name = "{args.shape}-{args.n}"', f"jobs = {args.jobs}", ""]
    if args.plugin:
        toml += ["[plugins]", f'p = "{os.path.abspath(args.plugin)}"', ""]
    def board(i):
        return "g" if args.boards <= 1 else f"g{i % args.boards}"

    def ref(i, d):
        return f"s{d}" if board(i) == board(d) else f"{board(d)}.s{d}"

    for i, deps in graph:
        toml.append(f"[[boards.{board(i)}.steps]]")
        toml.append(f'name = "s{i}"')
        toml.append("after = [" + ", ".join(f'"{ref(i, d)}"' for d in deps) + "]")
        if args.plugin:
            toml.append('plugin = "p"')
            if args.sleep_ms is not None:
                toml.append(f"with = {{ ops = [{{ op = \"sleep\", ms = {durations[i]} }}] }}")
        toml.append("")
    with open(os.path.join(args.out, "baton.toml"), "w") as f:
        f.write("\n".join(toml))

    def cmd(i):
        return f"sleep {durations[i] / 1000:.3f}" if args.sleep_ms is not None else "true"

    ninja = ["rule run", "  command = $cmd", ""]
    for i, deps in graph:
        ins = " ".join(f"s{d}.done" for d in deps)
        ninja.append(f"build s{i}.done: run" + (f" | {ins}" if ins else ""))
        ninja.append(f"  cmd = {cmd(i)}")
    ninja.append("build all: phony " + " ".join(f"s{i}.done" for i, _ in graph))
    ninja.append("default all")
    with open(os.path.join(args.out, "build.ninja"), "w") as f:
        f.write("\n".join(ninja) + "\n")

    nodes = " ".join(f"s{i}.done" for i, _ in graph)
    make = [f".PHONY: all {nodes}", f"all: {nodes}", ""]
    for i, deps in graph:
        make.append(f"s{i}.done: " + " ".join(f"s{d}.done" for d in deps))
        make.append(f"\t@{cmd(i)}")
    with open(os.path.join(args.out, "Makefile"), "w") as f:
        f.write("\n".join(make) + "\n")

    with open(os.path.join(args.out, "durations.json"), "w") as f:
        json.dump({"durations_ms": [durations[i] for i, _ in graph],
                   "deps": [deps for _, deps in graph]}, f)


if __name__ == "__main__":
    main()
