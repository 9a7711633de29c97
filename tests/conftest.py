"""Shared by every test directory: makes tests/lab importable as ``lab`` and exports its
fixtures (cjc_lab, cjc_lab_clean, cjc_lab_module, cjc_lab_factory, cjc_sandbox)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab.fixtures import (  # noqa: E402,F401 pylint: disable=unused-import,wrong-import-position
    cjc_lab,
    cjc_lab_clean,
    cjc_lab_factory,
    cjc_lab_module,
    cjc_sandbox,
)
