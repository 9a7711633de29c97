"""cjcbackup and cjcrestore refuse bad input with one message, no traceback and nothing left
behind (docs/backup.md): a damaged or foreign backup, a backup inside the site's own disk,
a site DB that is not here, a DB path cjcmksite would refuse."""

import json
import os

import pytest

from cjc.config.layout import Layout
from cjc.plan.install import install_engine

pytestmark = pytest.mark.netns

CLUSTER = "/usr/lib/nqs/cluster/"
SITE = "testsite.example.com"


def command(ns, layout, name, *args):
    return ns.run([layout.path(CLUSTER + name)] + [str(a) for a in args], env={"CJC_ROOT": layout.root})


def refused(done, prog, message):
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("%s: %s" % (prog, message)), done.stderr


@pytest.fixture
def backed_up(site_ns, node_root, tmp_path):
    """A site made here and one backup of it: (ns, layout, backup directory, other node's layout)."""
    made = command(site_ns, node_root, "cjcmksite", SITE, 200, tmp_path / "db")
    assert made.returncode == 0, made.stderr
    done = command(site_ns, node_root, "cjcbackup", SITE, tmp_path / "backups")
    assert done.returncode == 0, done.stderr
    backup = done.stdout.split(" backed up to ")[1].split(" (")[0]
    other = Layout(str(tmp_path / "other"))
    os.mkdir(other.root)
    install_engine(other, __import__("sys").executable, 101)
    return site_ns, node_root, backup, other


def test_a_stopped_site_restores_on_another_root_with_the_same_identity(backed_up, tmp_path):
    ns, _layout, backup, other = backed_up
    done = command(ns, other, "cjcrestore", backup, tmp_path / "db2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "cjcmksite Complete"
    with open(tmp_path / "db2" / "nqs" / "siteinfo") as handle:
        assert "name=%s\nmachine_id=200\naddress=10.192.18.10\n" % SITE in handle.read()
    assert os.stat(tmp_path / "db2" / "nqs" / "private" / "nqs.db").st_mode & 0o777 == 0o600


@pytest.mark.parametrize("damage, message", [
    ("manifest", "is not a site backup (no manifest.json)"),
    ("format", "has a manifest of another format (2, this engine reads 1)"),
    ("database", "is damaged: nqs.db does not have the SHA-256 its manifest records"),
    ("siteinfo", "is incomplete: siteinfo is missing"),
    ("escape", "names a file outside it: '../x'"),
])
def test_a_damaged_backup_is_refused_before_anything_is_made(backed_up, tmp_path, damage, message):
    ns, _layout, backup, other = backed_up
    manifest_path = os.path.join(backup, "manifest.json")
    with open(manifest_path) as handle:
        manifest = json.load(handle)
    if damage == "manifest":
        os.unlink(manifest_path)
    elif damage == "database":
        with open(os.path.join(backup, "nqs.db"), "r+b") as handle:
            handle.seek(200)
            handle.write(b"\xff" * 16)
    elif damage == "siteinfo":
        os.unlink(os.path.join(backup, "siteinfo"))
    else:
        if damage == "format":
            manifest["format"] = 2
        else:
            manifest["files"]["../x"] = "0" * 64
        with open(manifest_path, "w") as handle:
            json.dump(manifest, handle)
    done = command(ns, other, "cjcrestore", backup, tmp_path / "db2")
    refused(done, "cjcrestore", ("%s %s" if damage == "manifest" else "backup %s %s") % (backup, message))
    assert not os.path.exists(tmp_path / "db2")
    assert [e for e in os.listdir(other.spool) if len(e) == 8 and e.isupper()] == []  # no link


def test_a_restore_onto_a_path_cjcmksite_refuses_is_refused_by_the_same_check(backed_up, tmp_path):
    ns, layout, backup, other = backed_up
    refused(command(ns, other, "cjcrestore", backup, tmp_path / "db"), "cjcrestore",
            "%s already holds a site database" % (tmp_path / "db"))
    refused(command(ns, layout, "cjcrestore", backup, tmp_path / "db3"), "cjcrestore",
            "address 10.192.18.10 is already registered")
    refused(command(ns, other, "cjcrestore", backup, "relative/db"), "cjcrestore",
            "site DB path 'relative/db' must be an absolute path")
    assert not os.path.exists(tmp_path / "db3")


def test_a_backup_into_the_sites_own_disk_or_of_an_unknown_site_is_refused(backed_up, tmp_path):
    ns, layout, _backup, _other = backed_up
    refused(command(ns, layout, "cjcbackup", SITE, tmp_path / "db" / "backups"), "cjcbackup",
            "backup directory %s is inside the site DB %s" % (tmp_path / "db" / "backups", tmp_path / "db"))
    refused(command(ns, layout, "cjcbackup", "nosuch.example.com", tmp_path / "b"), "cjcbackup",
            "no site nosuch.example.com is registered on this node")
    assert not os.path.exists(tmp_path / "b")
