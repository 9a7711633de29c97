#!/usr/bin/env bash
# ansible-lint --profile production, offline. The collection is found through a symlink
# tree under /tmp (ANSIBLE_COLLECTIONS_PATH), so FQCNs like cjc.cluster.cjc_site resolve
# without installing anything; ansible-lint's caches go under /tmp too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
venv_bin=${CJC_VENV_BIN:-$project/.venv/bin}
tree=${CJC_LINT_TREE:-/tmp/cjc-lint-collections}
mkdir -p "$tree/ansible_collections/cjc"
ln -sfn "$project" "$tree/ansible_collections/cjc/cluster"
export ANSIBLE_COLLECTIONS_PATH="$tree"
export ANSIBLE_HOME=${CJC_LINT_HOME:-/tmp/cjc-lint-home}
export XDG_CACHE_HOME="$ANSIBLE_HOME/cache"
export PATH="$venv_bin:$PATH"
cd "$project"
exec ansible-lint --profile production "$@"
