#!/usr/bin/env python3
"""Two-node build time of playbooks/site.yml on a fresh lab, and its idempotent re-run.

    bench/build_time.py [--name LAB] [--runs N]

Targets: the full build (engine on both nodes, every step of the build order,
start check on both nodes) <= 60 s; the re-run <= 0.4 x the first run with changed=0.
Each run uses a fresh lab (tests/lab); the lab is removed afterwards. Timings depend on
the machine's load: the load average is printed with them.
"""

import argparse
import json
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "demo"))

from lab import Lab, LabConfig  # noqa: E402

import playbook  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="cjcbuild")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    firsts, reruns, changed = [], [], []
    for n in range(args.runs):
        lab = Lab(LabConfig(name=args.name))
        try:
            lab.up()
            load = os.getloadavg()[0]
            first = playbook.run_playbook(lab.inventory_path, "site.yml", log="/tmp/cjcbuild-first.log")
            if first.failed:
                raise SystemExit("site.yml failed; see /tmp/cjcbuild-first.log")
            again = playbook.run_playbook(lab.inventory_path, "site.yml", log="/tmp/cjcbuild-again.log")
            if again.failed:
                raise SystemExit("site.yml re-run failed; see /tmp/cjcbuild-again.log")
        finally:
            lab.down()
        firsts.append(first.seconds)
        reruns.append(again.seconds)
        changed.append(again.changed)
        print("run %d: first build %.1f s (changed=%d), re-run %.1f s (changed=%d) = %.2f x; load average %.1f"
              % (n + 1, first.seconds, first.changed, again.seconds, again.changed, again.seconds / first.seconds,
                 load))
    first_s, rerun_s = statistics.median(firsts), statistics.median(reruns)
    ratio = rerun_s / first_s
    print("full two-node build: %.1f s (target <= 60 s)" % first_s)
    print("idempotent re-run:   %.1f s = %.2f x the first run (target <= 0.4 x), changed=%d (target 0)"
          % (rerun_s, ratio, max(changed)))
    print("BENCH " + json.dumps({
        "figure": "site.yml two-node build (re-run %.1f s = %.2fx, changed=%d)" % (rerun_s, ratio, max(changed)),
        "value": round(first_s, 2), "unit": "s", "target": "<= 60; re-run <= 0.4x, changed=0",
        "pass": first_s <= 60 and ratio <= 0.4 and max(changed) == 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
