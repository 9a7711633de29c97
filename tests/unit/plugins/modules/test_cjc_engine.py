"""cjc_engine against the real installer on temporary node roots (no root needed)."""

import io
import os
import sys
import tarfile
import tempfile

from ansible_collections.cjc.cluster.plugins.modules import cjc_engine
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import install
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout

PACKAGE = install.PACKAGE_DIR
FINGERPRINT = install.package_fingerprint()


def args(root, **extra):
    return dict(dict(root=str(root), python=sys.executable, local_machine_id=100), **extra)


def test_check_mode_predicts_the_install_and_changes_nothing_then_idempotent(run, tmp_path):
    checked = run(cjc_engine, args(tmp_path, src=PACKAGE), check_mode=True)
    assert checked["changed"] is True and checked["up_to_date"] is False
    assert not os.path.exists(tmp_path / "usr")
    assert checked["diff"]["before"]["fingerprint"] is None
    assert checked["diff"]["after"]["fingerprint"] == FINGERPRINT
    real = run(cjc_engine, args(tmp_path, src=PACKAGE))
    assert real["changed"] is True and real["paths"] == checked["paths"]
    assert real["fingerprint"] == FINGERPRINT
    assert {"kind": "engine_path", "item": str(tmp_path / "usr/lib/nqs/cluster/cjcls"),
            "before": "differs", "after": "as packaged"} in real["records"]
    assert os.access(tmp_path / "usr/lib/nqs/cluster/cjcls", os.X_OK)
    again = run(cjc_engine, args(tmp_path, src=PACKAGE))
    assert again["changed"] is False and again["up_to_date"] is True and again["paths"] == []
    assert run(cjc_engine, args(tmp_path, src=PACKAGE), check_mode=True)["changed"] is False


def test_the_probe_answers_from_the_installed_package(run, tmp_path):
    nothing = run(cjc_engine, args(tmp_path, fingerprint=FINGERPRINT))
    assert nothing["changed"] is False and nothing["up_to_date"] is False and nothing["fingerprint"] is None
    assert os.listdir(tmp_path) == []
    run(cjc_engine, args(tmp_path, src=PACKAGE))
    other = run(cjc_engine, args(tmp_path, fingerprint="0" * 64))
    assert other["up_to_date"] is False and other["fingerprint"] == FINGERPRINT and other["changed"] is False
    same = run(cjc_engine, args(tmp_path, fingerprint=FINGERPRINT))
    assert same["up_to_date"] is True and same["changed"] is False


def test_a_command_edited_by_hand_is_reported_then_repaired_from_the_installed_copy(run, tmp_path):
    run(cjc_engine, args(tmp_path, src=PACKAGE))
    cjcls = tmp_path / "usr/lib/nqs/cluster/cjcls"
    cjcls.write_text(cjcls.read_text() + "# edited by hand\n")
    checked = run(cjc_engine, args(tmp_path, fingerprint=FINGERPRINT), check_mode=True)
    assert checked["changed"] is True and checked["up_to_date"] is False and checked["paths"] == [str(cjcls)]
    assert "edited by hand" in cjcls.read_text()
    fixed = run(cjc_engine, args(tmp_path, fingerprint=FINGERPRINT))
    assert fixed["paths"] == [str(cjcls)] and "edited by hand" not in cjcls.read_text()


def test_installs_from_the_archive_the_action_plugin_sends(run, tmp_path, monkeypatch):
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    archive = str(tmp_path / "cjc.tgz")
    install.pack_package(archive)
    root = tmp_path / "node"
    root.mkdir()
    real = run(cjc_engine, args(root, src=archive))
    assert real["changed"] is True and real["fingerprint"] == FINGERPRINT
    assert install.installed_fingerprint(Layout(str(root))) == FINGERPRINT
    assert os.listdir(staging) == []  # the unpacked copy is removed


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members:
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))


def test_a_foreign_or_escaping_archive_is_refused_and_nothing_is_installed(run, tmp_path):
    evil = str(tmp_path / "evil.tgz")
    _tar(evil, [("__init__.py", b""), ("plan/install.py", b""), ("../../escaped.py", b"x")])
    root = tmp_path / "node"
    root.mkdir()
    failed = run(cjc_engine, args(root, src=evil))
    assert failed["failed"] is True and "is not a file of the engine package" in failed["msg"]
    assert not os.path.exists(tmp_path / "escaped.py") and os.listdir(root) == []
    other = str(tmp_path / "other.tgz")
    _tar(other, [("README", b"not an engine")])
    failed = run(cjc_engine, args(root, src=other))
    assert failed["failed"] is True and "does not hold the cjc engine package" in failed["msg"]
    assert os.listdir(root) == []


def test_bad_options_fail_with_one_clear_message(run, tmp_path):
    none = run(cjc_engine, args(tmp_path))
    assert none["failed"] is True and "no engine is installed under" in none["msg"]
    missing = run(cjc_engine, args(tmp_path, src=str(tmp_path / "nope")))
    assert missing["failed"] is True and "does not exist" in missing["msg"]
    assert "positive" in run(cjc_engine, args(tmp_path, src=PACKAGE, local_machine_id=0))["msg"]
    assert "absolute" in run(cjc_engine, dict(args(tmp_path, src=PACKAGE), root="relative"))["msg"]
    assert "mutually exclusive" in run(cjc_engine, args(tmp_path, src=PACKAGE, fingerprint="x"))["msg"]
    assert os.listdir(tmp_path) == []
