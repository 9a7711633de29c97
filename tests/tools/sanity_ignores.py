"""Keep tests/sanity/ignore-<ansible version>.txt to exactly the tolerated findings.

Usage: sanity_ignores.py LOG [IGNORE_FILE]
LOG is the output of ``ansible-test sanity`` (``make sanity-ignores`` makes it).
Adds the findings that the project tolerates by policy (below) and drops entries
ansible-test reports as unnecessary. Every other finding stays an error.

Policy (why each is tolerated):
* engine (plugins/module_utils/cjc/), pylint:ansible-bad-function -- the engine is
  also the node runtime: its commands and daemons print to stdout/stderr and exit
  with a status; that code never runs inside a module (modules only plan/apply).
* anywhere, pylint:disallowed-name -- ``_`` as the throwaway name of unpacking.
* tests/ and bench/, pylint:subprocess-run-check -- they read the return code themselves.
* tests/, pylint:unused-import -- conftest.py re-exports fixtures by name.
* Windows scripts (.bat, .ps1, .cmd), line-endings -- rendered for Windows: CRLF is right.
* tests/ and bench/, shebang -- standalone tools (#!/usr/bin/env python3) and golden
  copies of other products' scripts (#! /bin/sh, #!/usr/bin/sh), kept exactly.
"""
import re
import sys

POLICY = (
    ("plugins/module_utils/cjc/", "pylint:ansible-bad-function"),
    ("", "pylint:disallowed-name"),
    ("tests/", "pylint:subprocess-run-check"),
    ("bench/", "pylint:subprocess-run-check"),
    ("tests/", "pylint:unused-import"),
)
FINDING = re.compile(r"^ERROR: (\S+?):\d+:\d+: ([a-z0-9-]+): ")
UNNECESSARY = re.compile(r"Ignoring '([^']+)' on '([^']+)' is unnecessary")
CRLF = re.compile(r'^ERROR: (\S+?):0:0: use "\\n" for line endings')
SHEBANG = re.compile(r"^ERROR: (\S+?):1:1: unexpected non-module shebang")
WINDOWS_SUFFIXES = (".bat", ".ps1", ".cmd")
SECTION = re.compile(r'^Running sanity test "([a-z0-9-]+)"')


def main(log_path, ignore_path="tests/sanity/ignore-2.19.txt"):
    try:
        with open(ignore_path, encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle if line.strip()]
    except FileNotFoundError:
        lines = []
    # ansible-test refuses comment-only lines: the policy lives in this file's docstring
    entries = {tuple(line.split("#")[0].split()[:2]) for line in lines}
    test = None
    added, dropped = set(), set()
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            section = SECTION.match(line)
            if section:
                test = section.group(1)
                continue
            stale = UNNECESSARY.search(line)
            if stale:  # named without the test's prefix in the pylint section
                code = stale.group(1)
                dropped.add((stale.group(2), "pylint:" + code if test == "pylint" and ":" not in code else code))
                continue
            crlf = CRLF.match(line)
            if crlf and test == "line-endings" and crlf.group(1).endswith(WINDOWS_SUFFIXES):
                added.add((crlf.group(1), "line-endings"))
                continue
            shebang = SHEBANG.match(line)
            if shebang and test == "shebang" and shebang.group(1).startswith(("tests/", "bench/")):
                added.add((shebang.group(1), "shebang"))
                continue
            found = FINDING.match(line)
            if found and test == "pylint":
                entry = (found.group(1), "pylint:" + found.group(2))
                if any(entry[0].startswith(prefix) and entry[1] == code for prefix, code in POLICY):
                    added.add(entry)
    entries = (entries | added) - dropped
    with open(ignore_path, "w", encoding="utf-8") as handle:
        for path, code in sorted(entries):
            handle.write("%s %s\n" % (path, code))
    print("%s: %d entries (+%d, -%d)" % (ignore_path, len(entries), len(added - dropped), len(dropped)))


if __name__ == "__main__":
    main(*sys.argv[1:])
