#!/usr/bin/env bash
# Integration of the modules and the engine role.
#   tests/integration/run.sh localhost   two root-prefixed "nodes" under a fresh /tmp dir
#   tests/integration/run.sh lab         the two-node namespace lab (tests/lab), made and removed here
# Extra arguments go to ansible-playbook (e.g. -v).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
venv_bin=${CJC_VENV_BIN:-$project/.venv/bin}
mode=${1:-localhost}
shift || true
tree=$(mktemp -d /tmp/cjc-it-collections.XXXXXX)
base=$(mktemp -d /tmp/cjc-it.XXXXXX)
lab_name=cjcit$$
cleanup() {
    if [ "$mode" = lab ]; then "$project/tests/lab/cjclab" --name "$lab_name" down >/dev/null 2>&1 || true; fi
    rm -rf "$tree" "$base"
}
trap cleanup EXIT
# A snapshot of the checkout (what git would commit): the run sees one consistent
# collection even while the working tree changes.
mkdir -p "$tree/ansible_collections/cjc/cluster"
(cd "$project" && git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$tree/ansible_collections/cjc/cluster"
collection="$tree/ansible_collections/cjc/cluster"
export ANSIBLE_COLLECTIONS_PATH="$tree"
export ANSIBLE_LOCAL_TEMP="$base/ansible-local"
export ANSIBLE_HOME="$base/ansible-home"
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
export PATH="$venv_bin:$PATH"
case "$mode" in
localhost)
    exec_args=(-i "$collection/tests/integration/inventory-localhost.yml" -e "cjc_it_base=$base")
    ;;
lab)
    "$project/tests/lab/cjclab" --name "$lab_name" up --vip-on node1 >/dev/null
    inventory=$("$project/tests/lab/cjclab" --name "$lab_name" inventory)
    exec_args=(-i "$inventory" -i "$collection/tests/integration/inventory-lab.yml")
    ;;
*)
    echo "usage: $0 localhost|lab [ansible-playbook args]" >&2
    exit 2
    ;;
esac
ansible-playbook "${exec_args[@]}" "$collection/tests/integration/integration.yml" "$@"
