# cjc.cluster -- the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ROOT ?= /
LOCAL_MID ?= 100
PYTEST_ARGS ?=

.PHONY: test venv apt-deps install-engine engine-tests clean

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# Install only the Debian packages that are missing (the suite needs root anyway).
apt-deps:
	@missing=$$(grep -v '^\s*#' tests/apt-packages.txt | while read -r p; do [ -z "$$p" ] || dpkg -s "$$p" >/dev/null 2>&1 || echo "$$p"; done); \
	if [ -n "$$missing" ]; then echo "apt-get install $$missing"; apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# The two-node lab (docs/lab.md): make lab-up [LAB=name] [PACEMAKER=1]; make lab-down
LAB ?= cjclab
.PHONY: apt-deps-pacemaker lab-up lab-down
apt-deps-pacemaker: apt-deps
	@missing=$$(grep -v '^\s*#' tests/apt-packages-pacemaker.txt | while read -r p; do [ -z "$$p" ] || dpkg -s "$$p" >/dev/null 2>&1 || echo "$$p"; done); \
	if [ -n "$$missing" ]; then echo "apt-get install $$missing"; apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
lab-up: apt-deps $(if $(PACEMAKER),apt-deps-pacemaker)
	tests/lab/cjclab --name $(LAB) up $(if $(PACEMAKER),--pacemaker)
lab-down:
	tests/lab/cjclab --name $(LAB) down

# Put the engine's commands under ROOT (default /): make install-engine ROOT=/tmp/node1
install-engine: venv
	PYTHONPATH=plugins/module_utils $(PY) -m cjc.cli.install --root $(ROOT) --local-machine-id $(LOCAL_MID)

# pytest exits 5 when it collects nothing: that is not a failure of the suite.
engine-tests: venv apt-deps
	$(PY) -m pytest tests/engine $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test: engine-tests

clean:
	rm -rf $(VENV) tests/output build
