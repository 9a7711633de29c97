"""The link registry, cjcls and NQS_SITE resolution (guide §2.1.1, §2.5.3, §2.5.2)."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from cjc.plan import install as install_mod
from cjc.site import pidrecords as runstate
from cjc.cli import cjcls
from cjc.site.cgroup import SiteGroup
from cjc.errors import NqsFatal
from cjc.plan.install import install_engine
from cjc.config.layout import Layout, layout_from
from cjc.site.names import address_of_link, link_name
from cjc.site.nqs_site import resolve_nqs_site
from cjc.site.registry import Registry, siteinfo_text
from cjc.site.status import daemon_pid, read_status

CJCLS = "/usr/lib/nqs/cluster/cjcls"


def fake_site(layout, tmp_path, name, address, machine_id):
    """A cluster site as cjcmksite leaves it (made directly: these tests need no netns)."""
    db = tmp_path / name.split(".")[0]
    (db / "nqs" / "run").mkdir(parents=True)
    (db / "nqs" / "siteinfo").write_text(siteinfo_text(machine_id, name, address))
    os.symlink(str(db), os.path.join(layout.spool, link_name(address)))
    return str(db)


@pytest.mark.parametrize("address, name", [("10.192.18.10", "0AC0120A"), ("192.168.1.100", "C0A80164"),
                                           ("0.0.0.1", "00000001"), ("255.255.255.255", "FFFFFFFF")])
def test_link_names_are_eight_upper_case_hex_digits(address, name):
    assert link_name(address) == name
    assert address_of_link(name) == address


@pytest.mark.parametrize("name", ["0ac0120a", "0AC0120", "0AC0120AA", "siteinfo", "0AC0120G"])
def test_other_spool_entries_are_not_links(name):
    assert address_of_link(name) is None


def test_root_prefix_from_option_environment_or_default():
    assert layout_from("/a", {"CJC_ROOT": "/b"}).root == "/a"
    assert layout_from(None, {"CJC_ROOT": "/b"}).root == "/b"
    assert layout_from(None, {}).root == "/"
    assert Layout("/r").path("/usr/lib/nqs/rc/daemon.conf") == "/r/usr/lib/nqs/rc/daemon.conf"
    assert Layout("/").local_site_conf == "/usr/lib/nqs/etc/site.conf"
    assert Layout("/r").spool == "/r/usr/spool/nqs"


def test_install_is_idempotent_and_creates_the_documented_tree(tmp_path):
    layout = Layout(str(tmp_path))
    first = install_engine(layout, sys.executable, 100)
    assert first
    assert install_engine(layout, sys.executable, 100) == []
    for documented in ("/usr/lib/nqs/cluster/cjcmksite", CJCLS):
        assert os.access(layout.path(documented), os.X_OK)
    assert Registry(layout).local.machine_id == 100
    # a changed engine file is put back
    copy = os.path.join(layout.engine_lib, "cjc", "layout.py")
    with open(copy, "a") as handle:
        handle.write("# local edit\n")
    assert install_engine(layout, sys.executable, 100) == [copy]


def test_installed_engine_knows_whether_it_is_the_expected_one(tmp_path):
    """The engine role's up-to-date probe: ``cjc-install --check --expect`` run from the node's copy."""
    layout = Layout(str(tmp_path))
    install_engine(layout, sys.executable, 100)
    wanted = install_mod.package_fingerprint()
    probe = [sys.executable, "-m", "cjc.cli.install", "--root", layout.root, "--python", sys.executable,
             "--check", "--expect"]
    env = dict(os.environ, PYTHONPATH=layout.engine_lib)
    same = subprocess.run(probe + [wanted], env=env, capture_output=True, text=True)
    assert same.returncode == 0 and " 0 path(s) would change" in same.stdout, same
    with open(os.path.join(layout.engine_lib, "cjc", "daemons", "comagent.py"), "a") as handle:
        handle.write("# edited by hand\n")
    drifted = subprocess.run(probe + [wanted], env=env, capture_output=True, text=True)
    assert drifted.returncode == 3 and "not the one expected" in drifted.stderr, drifted
    assert install_engine(layout, sys.executable, 100) == [os.path.join(layout.engine_lib, "cjc", "daemons",
                                                                        "comagent.py")]
    assert subprocess.run(probe + [wanted], env=env, capture_output=True).returncode == 0


def test_install_byte_compiles_the_package_for_the_commands_interpreter(tmp_path):
    """Every daemon start would compile the engine again without it (boot time)."""
    layout = Layout(str(tmp_path))
    assert install_engine(layout, sys.executable, 100, check=True)
    assert not os.path.exists(layout.engine_lib), "check mode wrote files"
    install_engine(layout, sys.executable, 100)
    package = os.path.join(layout.engine_lib, "cjc")
    tag = sys.implementation.cache_tag
    for where in (package, os.path.join(package, "daemons"), os.path.join(package, "cli")):
        sources = {name[:-3] for name in os.listdir(where) if name.endswith(".py")}
        compiled = {name.split(".")[0] for name in os.listdir(os.path.join(where, "__pycache__"))
                    if name.endswith(tag + ".pyc")}
        assert sources <= compiled, sources - compiled
    # a lost cache is made again, and is no change of content
    shutil.rmtree(os.path.join(package, "__pycache__"))
    assert install_engine(layout, sys.executable, 100) == []
    assert os.path.isdir(os.path.join(package, "__pycache__"))


def column(path):
    """The DB-PATH column: 31 wide, or the path and one blank when longer."""
    return path.ljust(31) if len(path) < 31 else path + " "


def test_cjcls_shows_the_guide_table(node_root, tmp_path):
    db_a = fake_site(node_root, tmp_path, "testsite.example.com", "10.192.18.10", 200)
    db_b = fake_site(node_root, tmp_path, "othersite.example.com", "10.192.18.11", 201)
    sleeper = subprocess.Popen(["sleep", "60"])
    cjcpw = subprocess.Popen(["sleep", "60"])
    group = SiteGroup(os.path.join(db_a, "nqs"))  # a record counts only for a member of the site's group
    try:
        for proc in (sleeper, cjcpw):
            group.enter(pid=proc.pid)
        runstate.write_record(os.path.join(db_a, "nqs", "run", "nqsdaemon.pid"), sleeper.pid)
        runstate.write_record(os.path.join(db_a, "nqs", "run", "cjcpw.pid"), cjcpw.pid)
        result = subprocess.run([node_root.path(CJCLS)], env=dict(os.environ, CJC_ROOT=node_root.root),
                                capture_output=True, text=True)
    finally:
        sleeper.kill()
        cjcpw.kill()
        sleeper.wait()
        cjcpw.wait()
        group.wait_empty(5)
        group.remove()
    rule = "-" * 70
    assert result.returncode == 0
    assert result.stdout == "\n".join([
        rule,
        "SITE-NAME                 DAEMON-PID    DB-PATH(LINK)                  CJCPW",
        rule,
        "testsite.example.com      %-14s%s   ON" % (sleeper.pid, column(db_a)),
        "                                        (%s/0AC0120A)" % node_root.spool,
        "othersite.example.com     SHUT          %s  OFF" % column(db_b),
        "                                        (%s/0AC0120B)" % node_root.spool,
        rule, ""])


def test_cjcls_tells_dead_and_foreign_records_apart(node_root, tmp_path):
    db = fake_site(node_root, tmp_path, "testsite.example.com", "10.192.18.10", 200)
    record = os.path.join(db, "nqs", "run", "nqsdaemon.pid")
    dead = subprocess.Popen(["true"])
    dead.wait()
    site = Registry(node_root).cluster[0]
    group = SiteGroup(site.spool)
    daemon = subprocess.Popen(["sleep", "60"])
    try:
        if group.tracked:
            group.enter(pid=daemon.pid)
        runstate.write_record(record, daemon.pid)
        assert daemon_pid(read_status(site)) == daemon.pid
        runstate.write_record(record, dead.pid)
        assert daemon_pid(read_status(site)) is None           # process gone
        runstate.write_record(record, daemon.pid)
        with open(record) as handle:
            text = handle.read().replace(socket.gethostname(), "othernode")
        with open(record, "w") as handle:
            handle.write(text)
        assert daemon_pid(read_status(site)) is None           # written by the other node
        if group.tracked:
            runstate.write_record(record, os.getpid())
            assert daemon_pid(read_status(site)) is None       # alive here, but not a process of the site
    finally:
        daemon.kill()
        daemon.wait()
        group.wait_empty(5)
        group.remove()


def test_cjcls_lists_a_site_whose_disk_is_not_mounted(node_root, tmp_path):
    os.symlink(str(tmp_path / "unmounted" / "jobdb"), os.path.join(node_root.spool, "7F000001"))
    out = cjcls.format_table(Registry(node_root).cluster).splitlines()
    assert out[3].split()[1:] == ["SHUT", str(tmp_path / "unmounted" / "jobdb"), "OFF"]


def test_cjcls_with_no_sites(node_root, capsys):
    assert cjcls.main(["--root", node_root.root]) == 0
    assert capsys.readouterr().out.count("\n") == 4


@pytest.mark.parametrize("value", [None, "", socket.gethostname()])
def test_nqs_site_unset_or_this_host_is_the_local_site(node_root, value):
    environ = {} if value is None else {"NQS_SITE": value}
    site = resolve_nqs_site(node_root, "qstat", environ)
    assert site.is_local and site.spool == node_root.spool and site.machine_id == 100


def test_nqs_site_names_a_cluster_site(node_root, tmp_path):
    db = fake_site(node_root, tmp_path, "testsite.example.com", "10.192.18.10", 200)
    site = resolve_nqs_site(node_root, "qstat", {"NQS_SITE": "testsite.example.com"})
    assert (site.name, site.db_path, site.machine_id, site.is_local) == ("testsite.example.com", db, 200, False)


@pytest.mark.parametrize("command, prefix", [("qstat", "Qstat"), ("qsub", "Qsub"), ("qdel", "Qdel")])
def test_unknown_nqs_site_is_the_documented_fatal_error(node_root, command, prefix):
    with pytest.raises(NqsFatal) as err:
        resolve_nqs_site(node_root, command, {"NQS_SITE": "nosuch.example.com"})
    assert str(err.value) == "%s(FATAL): Unable to setup NQS rootdir" % prefix


def test_nqs_site_whose_disk_is_elsewhere_is_fatal(node_root, tmp_path):
    db = fake_site(node_root, tmp_path, "testsite.example.com", "10.192.18.10", 200)
    os.rename(os.path.join(db, "nqs", "siteinfo"), os.path.join(db, "nqs", "siteinfo.away"))
    with pytest.raises(NqsFatal):
        resolve_nqs_site(node_root, "qstat", {"NQS_SITE": "testsite.example.com"})
