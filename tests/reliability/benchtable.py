#!/usr/bin/env python3
"""``make bench``: run every bench script, collect their ``BENCH {...}`` last lines, print one table.

    benchtable.py [--dir bench] [--timeout 900] [--json FILE] [--only NAME ...]

A bench script is ``<dir>/*.py`` except ``benchlib.py`` and private helpers (``_*.py``).
Each prints what it likes and, as its last line (bench/benchlib.py ``result()``)::

    BENCH {"figure": "...", "value": 0.31, "unit": "s", "target": "<= 0.5", "pass": true}

Scripts run one after the other (timings of parallel runs would disturb each other).
A script that exits non-zero, times out, or whose last line is not a valid BENCH line
is shown as ``error`` with the reason; the others are still run and shown. Targets
missed are shown as ``FAIL`` but do not change the exit status: timings never decide
a test. The exit status is 1 only when a script errored (a broken bench is a bug).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SKIP = ("benchlib.py",)
FIELDS = ("figure", "value", "unit", "target", "pass")


def bench_scripts(directory):
    return [path for path in sorted(glob.glob(os.path.join(directory, "*.py")))
            if os.path.basename(path) not in SKIP and not os.path.basename(path).startswith("_")]


def parse_result(stdout):
    """The dict of the last non-empty line when it is a valid BENCH line; ValueError otherwise."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("printed nothing")
    last = lines[-1].strip()
    if not last.startswith("BENCH "):
        raise ValueError("last line is not a BENCH line: %r" % last[:80])
    try:
        result = json.loads(last[len("BENCH "):])
    except ValueError as err:
        raise ValueError("BENCH line is not JSON: %s" % err)
    if not isinstance(result, dict) or any(key not in result for key in FIELDS):
        raise ValueError("BENCH line lacks %s" % ", ".join(k for k in FIELDS if not isinstance(result, dict)
                                                           or k not in result))
    if not isinstance(result["value"], (int, float)) or isinstance(result["value"], bool):
        raise ValueError("BENCH value %r is not a number" % (result["value"],))
    return result


def run_script(path, timeout, python=sys.executable, log=None):
    """One row: the BENCH result plus script, seconds, status (pass/FAIL/error) and error."""
    name = os.path.basename(path)
    started = time.monotonic()
    row = {"script": name}
    try:
        done = subprocess.run([python, path], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as err:
        row.update(status="error", error="timed out after %d s" % timeout,
                   output=(err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes)
                   else (err.stdout or ""))
    else:
        row["output"] = done.stdout
        if log:
            log.write("### %s (exit %d)\n%s%s\n" % (name, done.returncode, done.stdout, done.stderr))
            log.flush()
        try:
            row.update(parse_result(done.stdout))
        except ValueError as err:
            row["error"] = str(err)
        if done.returncode != 0:
            tail = [line for line in done.stderr.splitlines() if line.strip()]
            row["error"] = "exit %d%s" % (done.returncode, ": " + tail[-1][:100] if tail else "")
        row["status"] = "error" if "error" in row else ("pass" if row["pass"] else "FAIL")
    row["seconds"] = round(time.monotonic() - started, 1)
    row.pop("output", None)
    return row


def _value(row):
    if row["status"] == "error":
        return "-"
    value = row["value"]
    text = ("%.4g" % value) if isinstance(value, float) else str(value)
    return ("%s %s" % (text, row.get("unit", ""))).strip()


def table(rows):
    """The table as text: figure, value, target, result (pass / FAIL / error + reason), script, time."""
    head = ("figure", "value", "target", "result", "script", "run")
    body = []
    for row in rows:
        figure = row.get("figure") or "(%s)" % row["script"]
        result = row["status"] if row["status"] != "error" else "error: %s" % row["error"]
        body.append((figure, _value(row), str(row.get("target", "-")), result, row["script"],
                     "%.0f s" % row["seconds"]))
    widths = [max(len(str(line[i])) for line in [head] + body) for i in range(len(head))]
    widths[3] = min(widths[3], 60)
    rule = "-+-".join("-" * w for w in widths)

    def fmt(line):
        return " | ".join(str(cell).ljust(widths[i]) if i != 3 else str(cell)[:200].ljust(widths[i])
                          for i, cell in enumerate(line)).rstrip()
    return "\n".join([fmt(head), rule] + [fmt(line) for line in body])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--dir", default=os.path.join(REPO, "bench"))
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("BENCH_TIMEOUT", "900")))
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument("--only", nargs="*", help="run only these scripts (file names)")
    args = parser.parse_args(argv)
    scripts = bench_scripts(args.dir)
    if args.only:
        scripts = [s for s in scripts if os.path.basename(s) in args.only or os.path.basename(s)[:-3] in args.only]
    rows = []
    log_path = os.path.join("/tmp", "cjc-bench-%d.log" % os.getpid())
    with open(log_path, "w") as log:
        for path in scripts:
            print("bench: running %s ..." % os.path.basename(path), flush=True)
            row = run_script(path, args.timeout, log=log)
            print("bench: %s: %s (%.0f s)%s" % (row["script"], row["status"], row["seconds"],
                                                ": " + row["error"] if "error" in row else ""), flush=True)
            rows.append(row)
    print()
    print(table(rows))
    print("\n%d script(s): %d pass, %d FAIL, %d error; outputs in %s"
          % (len(rows), sum(r["status"] == "pass" for r in rows), sum(r["status"] == "FAIL" for r in rows),
             sum(r["status"] == "error" for r in rows), log_path))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 1 if any(r["status"] == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
