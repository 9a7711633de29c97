#!/usr/bin/env bash
# ansible-lint --profile production, offline. The collection is found through a symlink
# tree under /tmp/cjc-<uid>/<checkout key> (ANSIBLE_COLLECTIONS_PATH), so FQCNs like
# cjc.cluster.cjc_site resolve without installing anything, and users or concurrent
# checkouts never share one link; ansible-lint's caches go there too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
venv_bin=${CJC_VENV_BIN:-$project/.venv/bin}
scratch=/tmp/cjc-$(id -u)/$(printf %s "$project" | cksum | cut -d' ' -f1)
tree=${CJC_LINT_TREE:-$scratch/lint-collections}
mkdir -p "$tree/ansible_collections/cjc"
ln -sfn "$project" "$tree/ansible_collections/cjc/cluster"
export ANSIBLE_COLLECTIONS_PATH="$tree"
export ANSIBLE_HOME=${CJC_LINT_HOME:-$scratch/lint-home}
export XDG_CACHE_HOME="$ANSIBLE_HOME/cache"
export PATH="$venv_bin:$PATH"
cd "$project"
exec ansible-lint --profile production "$@"
