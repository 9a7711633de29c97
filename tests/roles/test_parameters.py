"""Step 3 of the cjc_cluster role refuses a wrong site parameter by naming that one variable,
its value and why (plan/parameters.py through the filter site_parameter_errors).

The role itself runs (ansible-playbook, its step 3 only, every host a local connection with
one wrong value); each host's failed task and message are read from the default callback's
output, results as one-line JSON.
A host with right values passes the same task, so a check that refused everything fails here.
"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "plugins", "module_utils"))
from cjc.plan.parameters import site_parameter_errors  # noqa: E402  (the engine, as the filter imports it)

GOOD = {"cjc_cluster_site_name": "testsite.example.com", "cjc_cluster_machine_id": 200,
        "cjc_cluster_db_path": "/mnt/jobdb", "cjc_cluster_address": "10.192.18.10",
        "cjc_cluster_local_ipaddress": "10.192.18.21"}
CHECK = "Check the site parameters"

# host -> (the one wrong variable and value, failing task, message)
REFUSALS = {
    "empty_name": ({"cjc_cluster_site_name": ""}, CHECK,
                   'cjc_cluster_site_name="": empty: set it to the site\'s full domain name'),
    "short_name": ({"cjc_cluster_site_name": "testsite"}, CHECK,
                   'cjc_cluster_site_name="testsite": not a full domain name'),
    "bad_name": ({"cjc_cluster_site_name": "test_site.example.com"}, CHECK,
                 "cjc_cluster_site_name=\"test_site.example.com\": site name 'test_site.example.com' is not a valid "
                 "host name"),
    "zero_id": ({"cjc_cluster_machine_id": 0}, CHECK,
                'cjc_cluster_machine_id="0": machine ID 0 is not valid: use a positive whole number up to 2147483647'),
    "huge_id": ({"cjc_cluster_machine_id": 2147483648}, CHECK, 'cjc_cluster_machine_id="2147483648": machine ID'),
    "text_id": ({"cjc_cluster_machine_id": "two"}, "Validating arguments against arg spec 'main'",
                "argument 'cjc_cluster_machine_id' is of type str and we were unable to convert to int"),
    "relative_db": ({"cjc_cluster_db_path": "mnt/jobdb"}, CHECK,
                    "cjc_cluster_db_path=\"mnt/jobdb\": site DB path 'mnt/jobdb' must be an absolute path"),
    "root_db": ({"cjc_cluster_db_path": "/"}, CHECK, "cjc_cluster_db_path=\"/\": site DB path '/' is not allowed"),
    "spaced_db": ({"cjc_cluster_db_path": "/mnt/job db"}, CHECK,
                  "cjc_cluster_db_path=\"/mnt/job db\": site DB path '/mnt/job db' is not allowed"),
    "bad_address": ({"cjc_cluster_address": "10.192.18.256"}, CHECK,
                    'cjc_cluster_address="10.192.18.256": not an IPv4 address'),
    "name_address": ({"cjc_cluster_address": "testsite.example.com"}, CHECK,
                     'cjc_cluster_address="testsite.example.com": not an IPv4 address'),
    "other_mount": ({"cjc_cluster_mount_point": "/srv/disk"}, CHECK,
                    'cjc_cluster_mount_point="/srv/disk": does not hold cjc_cluster_db_path /mnt/jobdb'),
    "relative_mount": ({"cjc_cluster_mount_point": "mnt"}, CHECK,
                       'cjc_cluster_mount_point="mnt": not an absolute path'),
    "no_local_address": ({"cjc_cluster_local_ipaddress": ""}, "Check the local site's listening address",
                         "cjc_cluster_local_daemon=SITE lets the local site run beside the cluster site, so both "
                         "need their own address: set cjc_cluster_local_ipaddress for no_local_address"),
}

PLAYBOOK = """- hosts: all
  gather_facts: false
  roles:
    - role: cjc.cluster.cjc_cluster
"""


def run_step3(tmp_path, hosts, **extra):
    """ansible-playbook of the role's step 3 on ``hosts`` (name -> vars); host -> (first failed task, message)."""
    tree = tmp_path / "collections" / "ansible_collections" / "cjc"
    tree.mkdir(parents=True)
    (tree / "cluster").symlink_to(REPO)
    inventory = {"all": {"hosts": {name: dict(GOOD, ansible_connection="local", ansible_python_interpreter=sys.executable,
                                              cjc_cluster_root=str(tmp_path / "root"), cjc_cluster_install_engine=False,
                                              **extra, **values) for name, values in hosts.items()}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_CALLBACK_FORMAT_PRETTY="false",
               ANSIBLE_HOME=str(tmp_path / "home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORKS="8")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "inventory.json"), "--tags", "cjc_step03_parameters", str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path), check=False)
    assert "PLAY RECAP" in done.stdout, done.stdout + done.stderr
    found, task = {}, None
    for line in done.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.rindex("]")]
        elif line.startswith("fatal: [") and " => " in line:
            host = line[len("fatal: ["):line.index("]")]
            found.setdefault(host, (task, json.loads(line.split(" => ", 1)[1]).get("msg", "")))
    return found


@pytest.fixture(scope="module")
def step3(tmp_path_factory):
    hosts = dict({"good": {}}, **{name: values for name, (values, _task, _message) in REFUSALS.items()})
    return run_step3(tmp_path_factory.mktemp("step3"), hosts)


@pytest.mark.parametrize("host", sorted(REFUSALS))
def test_each_wrong_parameter_is_refused_by_name_and_alone(step3, host):
    values, task, message = REFUSALS[host]
    failed_task, text = step3[host]
    assert task in failed_task, (failed_task, text)
    assert message in text, text
    wrong = set(values)
    for variable in set(GOOD) | {"cjc_cluster_mount_point"}:
        if variable not in wrong and task == CHECK:
            assert variable + "=" not in text, "%s named although right: %s" % (variable, text)


def test_right_parameters_pass_the_check(step3):
    """The good host goes on to read the node (and fails later there: nothing is installed under its root)."""
    assert not step3["good"][0].endswith(CHECK), step3["good"]
    assert not step3["good"][0].endswith("Check the local site's listening address"), step3["good"]


def test_an_active_node_outside_the_play_is_refused_by_name(tmp_path):
    failed_task, text = run_step3(tmp_path, {"n1": {}, "n2": {}}, cjc_cluster_active_node="n9")["n1"]
    assert failed_task.endswith("Check the active node")
    assert "The active node n9 is not in this play (n1, n2)" in text


def test_two_wrong_parameters_give_two_sentences_each_naming_its_own():
    errors = site_parameter_errors("testsite", 0, "/mnt/jobdb", "10.192.18.10")
    assert [error.split("=")[0] for error in errors] == ["cjc_cluster_site_name", "cjc_cluster_machine_id"]
