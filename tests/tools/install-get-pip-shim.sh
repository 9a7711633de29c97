#!/bin/sh
# Put get_pip_shim.py where ansible-test looks for its cached pip bootstrap script:
# $HOME/.ansible/test/cache/get_pip_<X_Y>.py, X.Y = the pip version this ansible-test pins.
# Usage: install-get-pip-shim.sh PYTHON   (PYTHON = the interpreter that has ansible-test)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${1:-python3}
ver=$("$python" - <<'PY'
import os, re, ansible_test
p = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(p).read()).group(1))
PY
)
target="$HOME/.ansible/test/cache/get_pip_$(echo "$ver" | tr . _).py"
mkdir -p "$(dirname "$target")"
if ! cmp -s "$here/get_pip_shim.py" "$target"; then
    cp "$here/get_pip_shim.py" "$target"
    echo "installed $target"
fi
