#!/usr/bin/env python3
"""Times commands against each other in interleaved rounds.

    interleave.py --runs N [--warmup W] --export-json FILE
                  [--prepare CMD]... -n NAME CMD [-n NAME CMD]...

Each round runs every command once, in an order that rotates from round to
round, so that whatever else the machine does at a given moment (another
tenant, the kernel's deferred work from the previous run) falls on all the
commands alike. Timing them one after the other in blocks, as hyperfine
does, let a burst of noise land on one block: on a shared two-CPU VM the
same binaries measured 1.12x in blocks and 1.70x interleaved.

A command is split like a shell word list (no shell: nothing to subtract)
and timed from spawn to exit; its output goes to /dev/null and it must
exit 0. A prepare command (run with bash, untimed) runs before each run of
the command in the same position; give one per command or none.

The JSON has hyperfine's shape, {"results": [{"command": NAME, "times":
[seconds, ...]}, ...]}, and a summary per command goes to stderr.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--export-json", required=True)
    ap.add_argument("--prepare", action="append", default=[])
    ap.add_argument("-n", "--name", action="append", default=[])
    ap.add_argument("commands", nargs="+")
    a = ap.parse_intermixed_args()
    if len(a.name) != len(a.commands):
        ap.error("give one -n NAME for each command")
    if a.prepare and len(a.prepare) != len(a.commands):
        ap.error("give one --prepare for each command, or none")
    argvs = [shlex.split(c) for c in a.commands]
    devnull = os.open(os.devnull, os.O_RDWR)

    def run(i):
        if a.prepare:
            subprocess.run(["bash", "-c", a.prepare[i]], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                   (os.POSIX_SPAWN_DUP2, devnull, 2)]
        start = time.perf_counter_ns()
        pid = os.posix_spawnp(argvs[i][0], argvs[i], os.environ, file_actions=actions)
        _, status, _ = os.wait4(pid, 0)
        took = (time.perf_counter_ns() - start) / 1e9
        if status != 0:
            sys.exit(f"interleave: '{a.commands[i]}' failed (wait status {status})")
        return took

    k = len(argvs)
    times = [[] for _ in range(k)]
    for r in range(a.warmup + a.runs):
        for j in range(k):
            i = (r + j) % k
            t = run(i)
            if r >= a.warmup:
                times[i].append(t)
    with open(a.export_json, "w") as f:
        json.dump({"results": [{"command": a.name[i], "times": times[i]} for i in range(k)]}, f)
    for i in range(k):
        ms = [t * 1e3 for t in times[i]]
        print(f"  {a.name[i]:<10} median {statistics.median(ms):8.2f} ms  mean {statistics.mean(ms):8.2f} ms"
              f"  min {min(ms):8.2f}  max {max(ms):8.2f}  ({len(ms)} runs)", file=sys.stderr)


if __name__ == "__main__":
    main()
