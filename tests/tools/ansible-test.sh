#!/usr/bin/env bash
# Run ansible-test on a copy of this collection staged at
#   $CJC_TEST_TREE/ansible_collections/cjc/cluster
# (default /tmp/cjc-<uid>/<checkout key>/ansible-test: one per user and checkout, so users
# and concurrent checkouts never share or block each other's staging tree)
# ansible-test needs the collection under a path ending ansible_collections/<ns>/<name>
# (it resolves symlinks, so a link to the checkout is not enough). The copy holds the
# files git would commit (tracked + untracked, not ignored); ansible-test's venvs and
# its pip bootstrap live under $CJC_TEST_HOME (default /tmp/cjc-<uid>/test-home), so nothing
# is written outside /tmp. Usage: tests/tools/ansible-test.sh sanity --python 3.11 --local
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
venv_bin=${CJC_VENV_BIN:-$project/.venv/bin}
scratch=/tmp/cjc-$(id -u)
tree=${CJC_TEST_TREE:-$scratch/$(printf %s "$project" | cksum | cut -d' ' -f1)/ansible-test}
export HOME=${CJC_TEST_HOME:-$scratch/test-home}
dest=$tree/ansible_collections/cjc/cluster
mkdir -p "$dest" "$HOME"
"$here/install-get-pip-shim.sh" "$venv_bin/python" >&2
# Mirror the checkout: copy new/changed files, delete files that are gone (keep tests/output).
cd "$project"
git ls-files -z --cached --others --exclude-standard | sort -z > "$tree/.files"
"$venv_bin/python" - "$project" "$dest" "$tree/.files" <<'PY'
import os, shutil, sys, filecmp
src, dst, listing = sys.argv[1:]
wanted = set(p for p in open(listing, "rb").read().decode().split("\0") if p and os.path.lexists(os.path.join(src, p)))
for rel in sorted(wanted):
    s, d = os.path.join(src, rel), os.path.join(dst, rel)
    os.makedirs(os.path.dirname(d), exist_ok=True)
    if os.path.islink(s):
        if os.path.lexists(d) and not (os.path.islink(d) and os.readlink(d) == os.readlink(s)):
            os.unlink(d)
        if not os.path.lexists(d):
            os.symlink(os.readlink(s), d)
    elif not (os.path.isfile(d) and filecmp.cmp(s, d, shallow=False)):
        shutil.copy2(s, d)
for top, dirs, files in os.walk(dst, topdown=True):
    rel_top = os.path.relpath(top, dst)
    if rel_top == os.path.join("tests", "output") or rel_top.startswith(os.path.join("tests", "output") + os.sep):
        dirs[:] = []
        continue
    for name in files:
        rel = os.path.normpath(os.path.join(rel_top, name))
        if rel not in wanted:
            os.unlink(os.path.join(top, name))
PY
cd "$dest"
export PATH="$venv_bin:$PATH"
exec ansible-test "$@"
