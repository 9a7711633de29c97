"""The generated Linux/UNIX scripts of the guide's products, executed against the real engine
(guide §3-§6): a real site (cjcmksite) in a network namespace, the scripts run the way the
product runs them, with the product's environment variables, and nothing else.

What this proves: the scripts start, supervise and stop the site as the guide says.
It does not prove anything about the products themselves (CLUSTERPRO, Serviceguard,
Sun Cluster are not on these machines); ``pmfadm`` is a test double (product_doubles/).

The site fixture ``rig`` is the supervisor tests' (test_supervisor.py). The scripts are
rendered for the node's root prefix, so they call ``<root>/usr/lib/nqs/...`` with
``--root``: they run with a clean environment (no ``CJC_ROOT``).
"""

import json
import os
import shlex
import signal
import subprocess

import pytest

from cjc.plan import products
from test_products_rendered import LEGACY, Runner
import test_supervisor
from test_supervisor import ADDRESS, CJCPW, SITE, wait_until

rig = test_supervisor.rig  # the supervisor tests' site fixture: cjcmksite in a namespace, cleaned up after

pytestmark = pytest.mark.netns

DOUBLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "product_doubles")


def render(product, rig, config_dir, **kwargs):
    """Render ``product``'s files for the rig's site and node root; {file name: path}."""
    request = products.make_request(product, SITE, rig.db, root=rig.layout.root, config_dir=str(config_dir),
                                    **kwargs)
    plan = products.plan_service(request, Runner())
    products.apply_service(plan, Runner())
    return {os.path.basename(path): path for path in plan.result["files"]}


def clean_env(**extra):
    """What a cluster product gives its scripts: a PATH, the C locale, its own variables; no CJC_ROOT."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_in(rig, argv, env, timeout=60):
    return subprocess.run(["ip", "netns", "exec", rig.ns.name] + list(argv), env=env, capture_output=True,
                          text=True, timeout=timeout)


def start_in(rig, argv, env):
    """Start ``argv`` in the rig's namespace in the background (as an asynchronous exec resource)."""
    proc = subprocess.Popen(["ip", "netns", "exec", rig.ns.name] + list(argv), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    rig.started.append(proc)
    return proc


def listening_ports(rig):
    out = rig.ns.run(["ss", "-ltnH"]).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()
            if line.split()[3].startswith(ADDRESS + ":")}


# -- CLUSTERPRO (Linux) --------------------------------------------------------------------------

@pytest.mark.parametrize("event, label", [("START", "NORMAL"), ("FAILOVER", "FAILOVER")])
def test_clusterpro_start_sh_starts_the_site_and_stop_sh_stops_it(rig, tmp_path, event, label):
    files = render("clusterpro", rig, tmp_path / "exec")
    start = start_in(rig, ["sh", files["start.sh"]], clean_env(CLP_EVENT=event, CLP_DISK="SUCCESS"))
    wait_until(rig.serving, 15, "the site to serve")
    owner = rig.owner()
    assert owner["mode"] == "cjcpw" and owner["site"] == SITE  # monitored: cjcpw in the foreground
    assert start.poll() is None  # start.sh lasts as long as the site: the PID monitor watches it
    stop = run_in(rig, ["sh", files["stop.sh"]], clean_env(CLP_EVENT=event, CLP_DISK="SUCCESS"))
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith("%s CJCPW STOP\ncjcpw: site %s stopped in " % (label, SITE))
    assert start.wait(timeout=30) == 0
    out = start.stdout.read()
    assert out.startswith("%s CJCPW STARTUP\n" % label) and out.endswith("EXIT\n")
    assert rig.daemons_down() and rig.owner() is None


@pytest.mark.parametrize("env", [dict(CLP_EVENT="START", CLP_DISK="FAILURE"),
                                 dict(CLP_EVENT="FAILOVER", CLP_DISK="FAILURE"),
                                 dict()], ids=["start-disk-failure", "failover-disk-failure", "no-clusterpro"])
def test_clusterpro_start_sh_does_not_start_without_the_disk(rig, tmp_path, env):
    files = render("clusterpro", rig, tmp_path / "exec")
    result = run_in(rig, ["sh", files["start.sh"]], clean_env(**env), timeout=15)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("NO_CLP\nEXIT\n" if not env else "EXIT\n")
    assert rig.owner() is None and rig.daemons_down()


def test_clusterpro_unmonitored_start_holds_the_port_first_and_returns_once_serving(rig, tmp_path):
    files = render("clusterpro", rig, tmp_path / "exec", options=dict(monitored=False, portkeeper=True))
    result = run_in(rig, ["sh", files["start.sh"]], clean_env(CLP_EVENT="START", CLP_DISK="SUCCESS"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "NORMAL CJCPW STARTUP"
    assert lines[1] == "nqsportkpr: holding port 607 on %s until the site's netdaemon takes it" % ADDRESS
    assert lines[2].startswith("cjcpw: site %s started (daemon pid " % SITE) and lines[3:] == ["EXIT"]
    assert rig.serving() and rig.owner()["mode"] == "detached"
    stop = run_in(rig, ["sh", files["stop.sh"]], clean_env(CLP_EVENT="FAILOVER", CLP_DISK="SUCCESS"))
    assert stop.returncode == 0 and "cjcpw: site %s stopped" % SITE in stop.stdout
    assert rig.daemons_down()


# -- HP Serviceguard ---------------------------------------------------------------------------------

def test_serviceguard_run_and_halt_functions_start_and_stop_the_site(rig, tmp_path):
    control = tmp_path / "jobpkg.cntl"
    control.write_text(LEGACY)
    render("serviceguard", rig, tmp_path, service_name="jobservice",
           options=dict(control_file=str(control), monitored=False, portkeeper=True))
    run = run_in(rig, ["bash", "-c", '. "$0" && customer_defined_run_cmds', str(control)], clean_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout.index("nqsportkpr: holding port 607") < run.stdout.index("cjcpw: site %s started" % SITE)
    assert rig.serving() and rig.owner()["mode"] == "detached"
    halt = run_in(rig, ["bash", "-c", '. "$0" && customer_defined_halt_cmds', str(control)], clean_env())
    assert halt.returncode == 0, halt.stderr
    assert halt.stdout.startswith("cjcpw: site %s stopped in " % SITE)
    assert rig.daemons_down() and rig.owner() is None


def test_serviceguard_service_cmd_supervises_the_site_and_sigterm_halts_it(rig, tmp_path):
    files = render("serviceguard", rig, tmp_path, service_name="jobservice")
    control = files["jobservice.cntl"]
    # Serviceguard runs SERVICE_CMD[i] as a command line, watches it and halts it with SIGTERM
    service = start_in(rig, ["bash", "-c", '. "$0" && eval "exec ${SERVICE_CMD[0]}"', control], clean_env())
    wait_until(rig.serving, 15, "the site to serve")
    assert rig.owner()["pid"] == service.pid and rig.owner()["mode"] == "cjcpw"
    name = run_in(rig, ["bash", "-c", '. "$0" && echo "${SERVICE_NAME[0]}|${SERVICE_RESTART[0]}|"', control],
                  clean_env())
    assert name.stdout == "jobservice||\n"
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0
    assert rig.daemons_down()


# -- Sun Cluster 3.2 -----------------------------------------------------------------------------------

def gds_properties(script):
    with open(script) as handle:
        line = [text for text in handle if "-t SUNW.gds" in text][0]
    argv = shlex.split(line.split(" || ", 1)[1])
    return dict(argv[i + 1].split("=", 1) for i, word in enumerate(argv) if word == "-p")


def test_suncluster_gds_start_and_stop_commands_run_the_site_on_the_listed_ports(rig, tmp_path):
    files = render("suncluster", rig, tmp_path, service_name="jcservice")
    props = gds_properties(files["jcservice-suncluster.sh"])
    start = start_in(rig, shlex.split(props["Start_command"]), clean_env())
    wait_until(rig.serving, 15, "the site to serve")
    assert rig.owner()["pid"] == start.pid  # the process PMF watches is the supervisor
    listed = {int(p.split("/")[0]) for p in props["Port_list"].split(",")}
    assert listed == {607, 611} and listed <= listening_ports(rig)
    stop = run_in(rig, shlex.split(props["Stop_command"]), clean_env())
    assert stop.returncode == 0 and stop.stdout.startswith("cjcpw: site %s stopped" % SITE)
    assert start.wait(timeout=30) == 0
    assert rig.daemons_down()


# -- Sun Cluster 2.2 -----------------------------------------------------------------------------------

def test_suncluster22_scripts_start_and_stop_the_site_through_pmfadm(rig, tmp_path):
    files = render("suncluster22", rig, tmp_path / "sc22", service_name="JobService")
    state = tmp_path / "pmf"
    state.mkdir()
    env = clean_env(PATH=DOUBLES + ":" + clean_env()["PATH"], PMFADM_DOUBLE_DIR=state)
    first = run_in(rig, ["sh", files["start.sh"]], env)
    assert (first.returncode, first.stdout) == (0, "Starting JobCenter Service\n"), first.stderr
    wait_until(rig.serving, 15, "the site to serve")
    with open(str(state / "JobService.pid")) as handle:
        assert rig.owner()["pid"] == int(handle.read())  # PMF's process is the monitoring cjcpw
    again = run_in(rig, ["sh", files["start.sh"]], env)
    assert (again.returncode, again.stdout) == (0, "JobCenter Service Already started.\n")
    stop = run_in(rig, ["sh", files["stop.sh"]], env)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith("cjcpw: site %s stopped in " % SITE)
    assert rig.daemons_down()
    again = run_in(rig, ["sh", files["stop.sh"]], env)
    assert (again.returncode, again.stdout) == (0, "JobCenter Service Already stopped.\n")
    with open(str(state / "calls.jsonl")) as handle:
        calls = [json.loads(line) for line in handle]
    root = rig.layout.root
    assert calls == [["-q", "JobService"],
                     ["-c", "JobService", "-C", "0", rig.layout.path(CJCPW), "--root", root, SITE, rig.db],
                     ["-q", "JobService"],
                     ["-q", "JobService"], ["-s", "JobService"],
                     ["-q", "JobService"]]


def test_suncluster22_start_reports_a_pmfadm_failure(rig, tmp_path):
    files = render("suncluster22", rig, tmp_path / "sc22", service_name="JobService")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "pmfadm").write_text("#!/bin/sh\n# test double: pmfadm that fails every call with 3\nexit 3\n")
    os.chmod(str(bindir / "pmfadm"), 0o755)
    result = run_in(rig, ["sh", files["start.sh"]], clean_env(PATH="%s:/usr/bin:/bin" % bindir))
    assert result.returncode == 1
    assert result.stdout == ("Starting JobCenter Service\nFailed to startup JobCenter Service.\n"
                             "Because of pmfadm error returned by 3.\n")
    assert rig.owner() is None
