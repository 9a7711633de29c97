"""The variables table of a role's README, made from its meta/argument_specs.yml.

``python3 tests/roles/role_table.py roles/cjc_cluster`` prints the table (paste it into
the README); ``test_role_docs.py`` parses the README tables back and compares them with
argument_specs.yml, so README and specs cannot drift apart.
"""

import json
import os
import sys

import yaml

HEADER = "| Variable | Type | Default | Required | Meaning |\n|---|---|---|---|---|\n"


def options(role_dir):
    with open(os.path.join(role_dir, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def render_default(spec):
    if "default" not in spec:
        return "—"
    return "`%s`" % json.dumps(spec["default"]) if not isinstance(spec["default"], str) or not spec["default"] \
        else "`%s`" % spec["default"]


def spec_type(spec):
    kind = spec.get("type", "str")
    return "list of %s" % spec["elements"] if kind == "list" and spec.get("elements") else kind


def table(role_dir):
    rows = []
    for name, spec in options(role_dir).items():
        meaning = spec["description"] if isinstance(spec["description"], str) else " ".join(spec["description"])
        if spec.get("choices"):
            meaning += " Choices: %s." % ", ".join("`%s`" % c if c != "" else '`""`' for c in spec["choices"])
        rows.append("| `%s` | %s | %s | %s | %s |" % (name, spec_type(spec), render_default(spec),
                                                      "yes" if spec.get("required") else "no",
                                                      meaning.replace("|", "\\|")))
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table(sys.argv[1]))
