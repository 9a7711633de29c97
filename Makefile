# cjc.cluster -- the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ROOT ?= /
LOCAL_MID ?= 100
PYTEST_ARGS ?=
# Scratch space of this user and checkout: concurrent checkouts and users never collide.
SCRATCH ?= /tmp/cjc-$(shell id -u)/$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)
export CJC_VENV_BIN := $(abspath $(VENV))/bin

.PHONY: test check system cluster venv apt-deps install-engine engine-tests engine-cluster-tests lint-imports clean

# Test tiers (docs/reliability.md, "Test tiers"); each runs alone, make test runs all three.
#   make check    no root, minutes: units, role docs, import contract, sanity, lint, build
#   make system   root + network namespaces: engine tests, module integration
#   make cluster  root + a real Pacemaker cluster and molecule scenarios
test: check system cluster
check: lint-imports units role-tests sanity lint build
system: units-root engine-tests integration
cluster: engine-cluster-tests molecule molecule-pacemaker

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
# The commands run with ENGINE_PYTHON, the node's python3 (with python3-psutil from apt-deps),
# as the engine role installs them: the venv's interpreter lives where only root can reach it.
ENGINE_PYTHON ?= /usr/bin/python3
install-engine: venv apt-deps
	PYTHONPATH=plugins/module_utils $(PY) -m cjc.cli.install --root $(ROOT) --local-machine-id $(LOCAL_MID) \
		--python $(ENGINE_PYTHON)

# pytest exits 5 when it collects nothing: that is not a failure of the suite.
# engine-tests: everything of tests/engine but the real Pacemaker cluster (marker cluster);
# engine-cluster-tests: tests/engine/test_pacemaker.py, a real two-node cluster (about 2 min).
engine-tests: venv apt-deps
	$(PY) -m pytest tests/engine -m "not cluster" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc
engine-cluster-tests: venv apt-deps apt-deps-pacemaker
	$(PY) -m pytest tests/engine -m cluster $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The engine's import direction (.importlinter, docs/engine.md "Layers").
lint-imports: venv
	PYTHONPATH=plugins/module_utils $(VENV)/bin/lint-imports

# The Ansible front end (modules, action plugin, engine role): docs/modules.md.
# units: module unit tests against the real engine on temporary roots (plain pytest).
# sanity/lint/build: ansible-test sanity, ansible-lint --profile production, galaxy build,
# all offline and writing only under /tmp. integration: modules and role on two nodes
# (INTEGRATION=localhost: root-prefixed nodes; INTEGRATION=lab: the namespace lab).
INTEGRATION ?= localhost
.PHONY: units units-root sanity sanity-ignores lint build integration
# units: no root (make check); units-root: the few that change real accounts (make system)
units: venv
	$(PY) -m pytest -p no:cacheprovider tests/unit -m "not root" $(PYTEST_ARGS)
units-root: venv
	$(PY) -m pytest -p no:cacheprovider tests/unit -m root $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc
sanity: venv
	tests/tools/ansible-test.sh sanity --python 3.11 --local --color no
sanity-ignores: venv
	mkdir -p $(SCRATCH)
	-tests/tools/ansible-test.sh sanity --python 3.11 --local --color no --test pylint > $(SCRATCH)/sanity-pylint.log 2>&1
	$(PY) tests/tools/sanity_ignores.py $(SCRATCH)/sanity-pylint.log
lint: venv
	tests/tools/ansible-lint.sh
build: venv
	rm -rf $(SCRATCH)/galaxy-build && mkdir -p $(SCRATCH)/galaxy-build
	$(VENV)/bin/ansible-galaxy collection build --output-path $(SCRATCH)/galaxy-build .
	$(VENV)/bin/ansible-galaxy collection install --offline -p $(SCRATCH)/galaxy-build/installed $(SCRATCH)/galaxy-build/cjc-cluster-*.tar.gz
integration: venv
	tests/integration/run.sh $(INTEGRATION)

clean:
	rm -rf $(VENV) tests/output build

# Reliability and speed. Small sizes of torture and fuzz run in make test
# (tests/engine/test_torture.py, test_fuzz.py); full sizes on demand:
#   make torture [N=200]   crash torture, N trials (default 20)
#   make fuzz [N=10000]    netdaemon fuzzing, N frames (default 10000)
#   make bench             every bench/*.py, one table (figure, value, target, pass/fail)
#   make bench-peer        bench/peers/side_by_side.py: this engine and stock Slurm (installed from the
#                          Debian packages when missing) in one run, with the ratios; never in make test
.PHONY: torture fuzz bench bench-peer
torture: venv apt-deps
	$(PY) tests/reliability/torture.py -n $(or $(N),20)
fuzz: venv apt-deps
	$(PY) tests/reliability/fuzz.py -n $(or $(N),10000)
bench: venv apt-deps apt-deps-pacemaker collection-link
	$(PY) tests/reliability/benchtable.py
bench-peer: venv apt-deps
	$(PY) bench/peers/side_by_side.py

# Pacemaker failover (docs/pacemaker.md):
#   make drill [TRIGGERS=kill_cjcpw,standby,kill_node,split_brain]   a lab of its own, every job's fate
#   make bench-failover [RUNS=5] [TOKEN_MS=3000]                      median failover time per trigger
.PHONY: drill bench-failover
drill: venv apt-deps-pacemaker
	$(PY) tests/failover/demo.py $(if $(TRIGGERS),--triggers $(TRIGGERS))
bench-failover: venv apt-deps-pacemaker
	$(PY) bench/failover_time.py --runs $(or $(RUNS),5) --token-ms $(or $(TOKEN_MS),3000)
# molecule-pacemaker: scenario pacemaker (lab + real cluster, site.yml with product pacemaker,
# idempotence, verify = failover_drill.yml kill_cjcpw + standby); about 2 minutes on an idle
# machine, part of make cluster. test-full is kept as another name of test.
.PHONY: molecule-pacemaker test-full
molecule-pacemaker: venv apt-deps apt-deps-pacemaker collection-link
	PATH=$(abspath $(VENV))/bin:$$PATH CJC_COLLECTIONS_PATH=$(CJC_COLLECTIONS) $(VENV)/bin/molecule test -s pacemaker
test-full: test

# The build order as users run it (roles/cjc_cluster/README.md):
#   make demo [KEEP=1] [DEMO_FAILOVER=auto|pacemaker|lab] [DEMO_TRIGGER=kill_cjcpw|standby|kill_node]
#   make role-tests    README variable tables = argument_specs; the drift_items filter
#   make molecule      molecule test, scenario default (create, converge, idempotence, verify
#                      with the drift test, destroy) on a namespace lab
#   make bench-build   bench/build_time.py: full two-node build and idempotent re-run
CJC_COLLECTIONS ?= /tmp/cjc-playbook-collections
.PHONY: demo role-tests molecule bench-build collection-link
collection-link:
	@mkdir -p $(CJC_COLLECTIONS)/ansible_collections/cjc && ln -sfn $(CURDIR) $(CJC_COLLECTIONS)/ansible_collections/cjc/cluster
demo: venv apt-deps apt-deps-pacemaker collection-link
	$(PY) tests/demo/demo.py $(if $(filter 1,$(KEEP)),--keep)
role-tests: venv
	$(PY) -m pytest -p no:cacheprovider tests/roles $(PYTEST_ARGS)
molecule: venv apt-deps collection-link
	PATH=$(abspath $(VENV))/bin:$$PATH CJC_COLLECTIONS_PATH=$(CJC_COLLECTIONS) $(VENV)/bin/molecule test
bench-build: venv apt-deps collection-link
	$(PY) bench/build_time.py
