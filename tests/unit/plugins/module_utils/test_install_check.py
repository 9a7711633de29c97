"""The installer's check mode (used by the engine role) predicts exactly what a real run changes."""

import os
import sys

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan.install import install_engine
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.config.layout import Layout


def tree(root):
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            # a directory's mtime moves when SQLite opens the store to read its version
            found[path] = (st.st_mode, st.st_size, None if name in dirs else st.st_mtime_ns)
    return found


def test_check_predicts_then_changes_nothing(tmp_path):
    layout = Layout(str(tmp_path))
    predicted = install_engine(layout, sys.executable, 100, check=True)
    assert predicted and tree(str(tmp_path)) == {}
    assert sorted(install_engine(layout, sys.executable, 100)) == sorted(predicted)
    assert install_engine(layout, sys.executable, 100, check=True) == []


def test_check_reports_drift_of_one_file(tmp_path):
    layout = Layout(str(tmp_path))
    install_engine(layout, sys.executable, 100)
    command = layout.path("/usr/lib/nqs/cluster/cjcls")
    with open(command, "a") as handle:
        handle.write("# edited\n")
    before = tree(str(tmp_path))
    assert install_engine(layout, sys.executable, 100, check=True) == [command]
    assert tree(str(tmp_path)) == before
    assert install_engine(layout, sys.executable, 100) == [command]
