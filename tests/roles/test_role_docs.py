"""Every role's README variables table matches its meta/argument_specs.yml (STYLE: Roles),
and the role's defaults/main.yml gives the same defaults."""

import glob
import json
import os
import re

import pytest
import yaml

from role_table import options, spec_type

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.dirname(os.path.dirname(p))
               for p in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")))
_ROW = re.compile(r"^\|\s*`(?P<name>[A-Za-z_][A-Za-z0-9_]*)`\s*\|(?P<type>[^|]*)\|(?P<default>[^|]*)\|"
                  r"(?P<required>[^|]*)\|(?P<meaning>.*)\|\s*$")


def readme_rows(role_dir):
    """Rows of the README's variables table: name -> dict(type, default, required, meaning)."""
    rows = {}
    with open(os.path.join(role_dir, "README.md"), encoding="utf-8") as handle:
        for line in handle:
            match = _ROW.match(line.strip())
            if match:
                assert match["name"] not in rows, "%s appears twice in the README table" % match["name"]
                rows[match["name"]] = {k: match[k].strip() for k in ("type", "default", "required", "meaning")}
    return rows


def parse_default(cell):
    if cell in ("—", "-", ""):
        return "<none>"
    text = cell.strip("`")
    try:
        return json.loads(text)
    except ValueError:
        return yaml.safe_load(text) if text not in ("/",) else text


@pytest.mark.parametrize("role_dir", ROLES, ids=os.path.basename)
def test_readme_table_lists_exactly_the_argument_specs_options(role_dir):
    specs, rows = options(role_dir), readme_rows(role_dir)
    assert sorted(rows) == sorted(specs), "README table and argument_specs.yml name different variables"


@pytest.mark.parametrize("role_dir", ROLES, ids=os.path.basename)
def test_readme_table_type_default_and_required_match_argument_specs(role_dir):
    specs, rows = options(role_dir), readme_rows(role_dir)
    for name, spec in specs.items():
        row = rows[name]
        assert row["type"] in (spec.get("type", "str"), spec_type(spec)), (name, row["type"], spec.get("type"))
        want = spec["default"] if "default" in spec else "<none>"
        assert parse_default(row["default"]) == want, (name, row["default"], want)
        assert row["required"] == ("yes" if spec.get("required") else "no"), (name, row["required"])
        assert row["meaning"], "%s has no meaning in the README" % name
        assert spec.get("description"), "%s has no description in argument_specs.yml" % name


@pytest.mark.parametrize("role_dir", ROLES, ids=os.path.basename)
def test_role_defaults_match_argument_specs(role_dir):
    path = os.path.join(role_dir, "defaults", "main.yml")
    with open(path, encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle) or {}
    specs = options(role_dir)
    for name, spec in specs.items():
        if "default" in spec:
            assert name in defaults and defaults[name] == spec["default"], (name, defaults.get(name), spec["default"])
        else:
            assert spec.get("required") and name not in defaults, "%s: required, so no default" % name
    assert not set(defaults) - set(specs), "defaults without a spec: %s" % sorted(set(defaults) - set(specs))
