"""Offline stand-in for https://ci-files.testing.ansible.com/ansible-test/get-pip-X.Y.py.

ansible-test bootstraps pip into each fresh (pip-less) venv of its sanity tests by
running ``get-pip-<version>.py`` downloaded from a host that CI cannot reach. It first
looks for the cached copy ``~/.ansible/test/cache/get_pip_<X_Y>.py``;
``install-get-pip-shim.sh`` puts this file there. argv is like
``--disable-pip-version-check pip==24.2 [--no-setuptools] [--no-wheel]``.

pip is seeded from the standard library's ``ensurepip`` in a child process (ensurepip
sets PIP_CONFIG_FILE=/dev/null in its own process, which would hide /etc/pip.conf and
its index/CA settings), then that pip installs the requested packages from the index
pip is configured for.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade"] + args))
