"""The rendering cluster-product backends (guide §3-§6): golden files, merge,
idempotence, check mode and diff, the product CLI run only when present, hostile values.

Golden files are under ``golden/<product>/<case>/``, rendered from the guide's own
sample parameters; ``CJC_UPDATE_GOLDEN=1`` rewrites them (then review the diff line
by line against the guide). No root, no namespace: plain files under /tmp.
"""

import os
import subprocess

import pytest

from cjc.plan import products
from cjc.errors import CjcError, ConfigError
from cjc.plan.products import clusterpro, serviceguard, suncluster

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
UPDATE = os.environ.get("CJC_UPDATE_GOLDEN") == "1"

WIN = dict(site_directory="X:\\Jobdb", install_dir="D:\\JobCenter\\SV", admin="Job-Admin")

# (product, case, request arguments) -- the parameters of the guide's examples
CASES = [
    ("serviceguard", "monitored", dict(site="testsite", db_path="/mnt/jobdb", service_name="jobservice")),
    ("serviceguard", "unmonitored", dict(site="testsite", db_path="/mnt/jobdb", service_name="jobservice",
                                         options=dict(monitored=False, portkeeper=True))),
    ("serviceguard", "monitored_portkeeper", dict(site="testsite", db_path="/mnt/jobdb", service_name="jobservice",
                                                  options=dict(portkeeper=True))),
    ("clusterpro", "monitored", dict(site="testsite", db_path="/mnt/jobdb", service_name="jcservice")),
    ("clusterpro", "unmonitored", dict(site="testsite", db_path="/mnt/jobdb", service_name="jcservice",
                                       options=dict(monitored=False, portkeeper=True))),
    ("clusterpro_windows", "monitored", dict(site="testsite", db_path="/mnt/jobdb", service_name="jcservice",
                                             options=dict(WIN, watch_id="JOBSTART"))),
    ("clusterpro_windows", "unmonitored", dict(site="testsite", db_path="/mnt/jobdb", service_name="jcservice",
                                               options=dict(WIN, watch_id="JOBSTART", monitored=False))),
    ("suncluster", "default", dict(site="testsite", db_path="/mnt/jobdb", service_name="jcservice",
                                   options=dict(netiflist="sc_ipmp0@1,sc_ipmp0@2"))),
    ("suncluster", "ports", dict(site="testsite", db_path="/mnt/jobdb", service_name="jcservice",
                                 options=dict(nqs_port=10607, comagent_port=10611, resource_group="jc-rg",
                                              mount_points=["/mnt"]))),
    ("suncluster22", "default", dict(site="sitename.domain", db_path="/SharediskMountPoint/JobDB",
                                     service_name="JobService")),
    ("msfc", "default", dict(site="jcgpkg1", db_path="/Jobdb", address="192.168.50.194",
                             options=dict(site_directory="Y:\\Jobdb", disk="Cluster Disk 1"))),
]


class Runner:
    """The ``run(argv, environ)`` of the module, recording; answers from ``replies``."""

    def __init__(self, replies=None):
        self.calls, self.replies = [], dict(replies or {})

    def __call__(self, argv, environ=None):
        self.calls.append(list(argv))
        return self.replies.get(tuple(argv), (0, "", ""))


def make(product, config_dir, **kwargs):
    return products.make_request(product=product, config_dir=str(config_dir), **kwargs)


def plan_of(request, run=None):
    return products.plan_service(request, run or Runner())


def converge(request, run=None):
    run = run or Runner()
    plan = plan_of(request, run)
    if plan.changed:
        products.apply_service(plan, run)
    return plan


def rendered_files(config_dir):
    found = {}
    for base, _dirs, files in os.walk(str(config_dir)):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(config_dir))] = handle.read()
    return found


@pytest.mark.parametrize("product, case, args", CASES, ids=["%s-%s" % c[:2] for c in CASES])
def test_rendered_files_match_the_golden_files(tmp_path, product, case, args):
    plan = converge(make(product, tmp_path / "out", **args))
    assert plan.changed
    got = rendered_files(tmp_path / "out")
    golden_dir = os.path.join(GOLDEN, product, case)
    if UPDATE:
        os.makedirs(golden_dir, exist_ok=True)
        for name, data in got.items():
            with open(os.path.join(golden_dir, name), "wb") as handle:
                handle.write(data)
    want = rendered_files(golden_dir)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], "%s/%s differs from the golden file" % (product, name)
    assert sorted(plan.result["files"]) == sorted(os.path.join(str(tmp_path / "out"), n) for n in want)


@pytest.mark.parametrize("product, case, args", CASES, ids=["%s-%s" % c[:2] for c in CASES])
def test_second_run_changes_nothing(tmp_path, product, case, args):
    request = make(product, tmp_path, **args)
    converge(request)
    again = plan_of(request)
    assert again.changed is False and again.actions == []
    assert again.before == again.after


@pytest.mark.parametrize("product, case, args", CASES, ids=["%s-%s" % c[:2] for c in CASES])
def test_check_mode_plans_writes_and_diff_without_touching_the_disk(tmp_path, product, case, args):
    plan = plan_of(make(product, tmp_path / "out", **args))
    assert not os.path.exists(str(tmp_path / "out"))
    assert plan.changed and plan.before == ""
    assert {a["action"] for a in plan.actions} == {"create"}
    assert [a["path"] for a in plan.actions] == plan.result["files"]
    for path in plan.result["files"]:
        assert "# %s\n" % path in plan.after
        assert plan.result["_content"][path] in plan.after


@pytest.mark.parametrize("product, case, args", CASES, ids=["%s-%s" % c[:2] for c in CASES])
def test_state_absent_deletes_only_what_it_rendered(tmp_path, product, case, args):
    converge(make(product, tmp_path, **args))
    (tmp_path / "unrelated.txt").write_text("keep me\n")
    plan = converge(make(product, tmp_path, state="absent", **args))
    assert plan.changed and {a["action"] for a in plan.actions} == {"delete"}
    assert os.listdir(str(tmp_path)) == ["unrelated.txt"]
    assert plan_of(make(product, tmp_path, state="absent", **args)).changed is False


def test_drift_is_replaced_and_shown_in_the_diff(tmp_path):
    request = make("clusterpro", tmp_path, site="testsite", db_path="/mnt/jobdb", service_name="jcservice")
    converge(request)
    start = tmp_path / "start.sh"
    start.write_text(start.read_text().replace("/mnt/jobdb", "/mnt/other"))
    os.chmod(str(start), 0o700)
    plan = converge(request)
    assert [(a["action"], a["path"]) for a in plan.actions] == [("update", str(start))]
    assert "/mnt/other" in plan.before and "/mnt/other" not in plan.after
    assert "/mnt/jobdb" in start.read_text()
    assert os.stat(str(start)).st_mode & 0o777 == 0o755
    os.chmod(str(start), 0o644)  # a script that lost its x bit is drift too
    plan = converge(request)
    assert plan.actions == [{"action": "chmod", "path": str(start), "mode": "0755"}] and plan.before == plan.after
    assert os.stat(str(start)).st_mode & 0o777 == 0o755 and plan_of(request).changed is False


def test_serviceguard_keeps_the_mode_of_an_existing_control_script(tmp_path):
    control = tmp_path / "jobpkg.cntl"
    control.write_text(LEGACY)
    os.chmod(str(control), 0o700)
    request = make("serviceguard", tmp_path, site="testsite", db_path="/mnt/jobdb",
                   options=dict(control_file=str(control)))
    converge(request)
    assert os.stat(str(control)).st_mode & 0o777 == 0o700 and plan_of(request).changed is False


# -- Serviceguard: merge into an existing package control script -------------------------------

LEGACY = """#!/usr/bin/sh
# HP Serviceguard legacy package control script (excerpt of the template)
VGCHANGE="vgchange -a e"
VG[0]=vgjob
LV[0]=/dev/vgjob/lvol1; FS[0]=/mnt; FS_MOUNT_OPT[0]="-o rw"
IP[0]=192.168.1.100
SUBNET[0]=192.168.1.0

# SERVICE NAMES AND COMMANDS.
SERVICE_NAME[0]=dbmonitor
SERVICE_CMD[0]="/opt/db/bin/monitor"
SERVICE_RESTART[0]="-r 2"

function test_return
{
 if (( $? != 0 )); then exit $1; fi
}

function customer_defined_run_cmds
{
# ADD customer defined run commands.
: # do nothing instruction, because a function must contain some command.

 test_return 51
}

function customer_defined_halt_cmds
{
# ADD customer defined halt commands.
: # do nothing instruction, because a function must contain some command.

 test_return 52
}
"""


@pytest.mark.parametrize("monitored", [True, False], ids=["monitored", "unmonitored"])
def test_serviceguard_merges_into_a_control_script_and_leaves_the_rest_byte_identical(tmp_path, monitored):
    control = tmp_path / "jobpkg.cntl"
    control.write_text(LEGACY)
    args = dict(site="testsite", db_path="/mnt/jobdb", service_name="jobservice",
                options=dict(control_file=str(control), monitored=monitored, portkeeper=True))
    converge(make("serviceguard", tmp_path, **args))
    case = "merged_monitored" if monitored else "merged_unmonitored"
    golden = os.path.join(GOLDEN, "serviceguard", case, "jobpkg.cntl")
    if UPDATE:
        os.makedirs(os.path.dirname(golden), exist_ok=True)
        with open(golden, "w") as handle:
            handle.write(control.read_text())
    with open(golden) as handle:
        assert control.read_text() == handle.read()
    # removing our blocks gives back exactly the original file
    converge(make("serviceguard", tmp_path, state="absent", **args))
    assert control.read_text() == LEGACY


def test_serviceguard_service_index_skips_the_indexes_of_other_services(tmp_path):
    lines = LEGACY.splitlines(keepends=True)
    request = make("serviceguard", tmp_path, site="testsite", db_path="/mnt/jobdb", service_name="jobservice")
    options = products.backend_for("serviceguard").options(request)
    text = serviceguard.merge(LEGACY, request, options)
    assert "SERVICE_NAME[1]=jobservice\n" in text
    assert serviceguard.used_service_indexes(lines, "testsite") == {0}
    # our block lands right after the other service, before the functions
    assert text.index("SERVICE_RESTART[0]") < text.index("# BEGIN cjc.cluster service testsite") \
        < text.index("function test_return")
    clash = make("serviceguard", tmp_path, site="testsite", db_path="/mnt/jobdb",
                 options=dict(service_index=0))
    with pytest.raises(ConfigError, match=r"SERVICE_NAME\[0\] is already used"):
        serviceguard.merge(LEGACY, clash, products.backend_for("serviceguard").options(clash))


def test_serviceguard_switching_mode_replaces_the_blocks(tmp_path):
    args = dict(site="testsite", db_path="/mnt/jobdb", service_name="jobservice")
    converge(make("serviceguard", tmp_path, **args))
    plan = converge(make("serviceguard", tmp_path, options=dict(monitored=False), **args))
    text = (tmp_path / "jobservice.cntl").read_text()
    assert plan.changed and "SERVICE_CMD" not in text and "cjcpw -c testsite /mnt/jobdb" in text
    assert "# BEGIN cjc.cluster service" in plan.before and "# BEGIN cjc.cluster service" not in plan.after


def test_serviceguard_refuses_an_unterminated_block(tmp_path):
    control = tmp_path / "pkg.cntl"
    control.write_text("# BEGIN cjc.cluster service testsite\nSERVICE_NAME[0]=x\n")
    request = make("serviceguard", tmp_path, site="testsite", db_path="/mnt/jobdb",
                   options=dict(control_file=str(control)))
    with pytest.raises(ConfigError, match="without '# END cjc.cluster service testsite'"):
        plan_of(request)


# -- the product CLI: run only when present ----------------------------------------------------

@pytest.fixture
def product_cli(tmp_path, monkeypatch):
    """Put stand-in product commands on PATH (they are never executed: the runner records)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()

    def install(*names):
        for name in names:
            (bindir / name).write_text("#!/bin/sh\nexit 99\n")
            os.chmod(str(bindir / name), 0o755)
        monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ.get("PATH", "")))
    return install


def test_clusterpro_without_clpcfctrl_returns_the_push_command(tmp_path):
    request = make("clusterpro", tmp_path / "out", site="testsite", db_path="/mnt/jobdb",
                   options=dict(push_dir="/root/clpconf", failover_group="jcgroup"))
    run = Runner()
    plan = converge(request, run)
    assert run.calls == [] and all(a["action"] != "run" for a in plan.actions)
    assert plan.result["commands"] == ["clpcfctrl --push -l -x /root/clpconf"]
    assert any("Asynchronous" in s for s in plan.result["settings"])
    assert any("Synchronous" in s and "stop" in s for s in plan.result["settings"])
    assert any("PID monitor" in s and "recovery target failover group jcgroup" in s
               for s in plan.result["settings"])


def test_clusterpro_with_clpcfctrl_pushes_once_after_a_change(tmp_path, product_cli):
    product_cli("clpcfctrl")
    request = make("clusterpro", tmp_path / "out", site="testsite", db_path="/mnt/jobdb")
    run = Runner()
    plan = converge(request, run)
    assert plan.actions[-1] == {"action": "run", "argv": ["clpcfctrl", "--push", "-l"]}
    assert run.calls == [["clpcfctrl", "--push", "-l"]]
    again = plan_of(request, run)
    assert again.changed is False and run.calls == [["clpcfctrl", "--push", "-l"]]


def test_a_failed_product_command_is_reported_with_its_output(tmp_path, product_cli):
    product_cli("clpcfctrl")
    request = make("clusterpro", tmp_path / "out", site="testsite", db_path="/mnt/jobdb")
    run = Runner({("clpcfctrl", "--push", "-l"): (12, "", "clpcfctrl: not the master server\n")})
    with pytest.raises(CjcError) as err:
        converge(request, run)
    assert "clpcfctrl --push -l failed (rc=12): clpcfctrl: not the master server" in str(err.value)
    assert err.value.rc == 12


def test_serviceguard_applies_the_package_when_cmapplyconf_is_present(tmp_path, product_cli):
    product_cli("cmapplyconf", "cmcheckconf")
    request = make("serviceguard", tmp_path, site="testsite", db_path="/mnt/jobdb",
                   options=dict(package_config="/etc/cmcluster/jobpkg/jobpkg.conf"))
    run = Runner()
    converge(request, run)
    assert run.calls == [["cmcheckconf", "-P", "/etc/cmcluster/jobpkg/jobpkg.conf"],
                         ["cmapplyconf", "-P", "/etc/cmcluster/jobpkg/jobpkg.conf"]]


def test_suncluster_creates_only_the_missing_objects_when_clresource_is_present(tmp_path, product_cli):
    product_cli("clresource")
    replies = {("clresourcetype", "list"): (0, "SUNW.LogicalHostname:3\nSUNW.HAStoragePlus:6\nSUNW.gds:6\n", ""),
               ("clresourcegroup", "list"): (0, "jcservice-rg\n", ""),
               ("clresource", "list"): (0, "jcservice-lh\njcservice-hasp\n", "")}
    request = make("suncluster", tmp_path, site="testsite", db_path="/mnt/jobdb", service_name="jcservice")
    run = Runner(replies)
    plan = converge(request, run)
    ran = [c for c in run.calls if c[1] != "list"]
    assert [c[:3] for c in ran] == [["clresource", "create", "-g"], ["clresourcegroup", "online", "-eM"]]
    assert ran[0][-1] == "jcservice" and "Port_list=607/tcp,611/tcp" in ran[0]
    assert [a["argv"] for a in plan.actions if a["action"] == "run"] == ran
    # everything there now: nothing to run, nothing changed
    replies[("clresource", "list")] = (0, "jcservice-lh\njcservice-hasp\njcservice\n", "")
    again = plan_of(request, Runner(replies))
    assert again.changed is False


def test_suncluster_port_list_takes_the_sites_daemon_conf(tmp_path):
    db = tmp_path / "jobdb"
    (db / "nqs").mkdir(parents=True)
    (db / "nqs" / "daemon.conf").write_text("ipaddress=10.1.2.3\nnqs_port=1607\ncomagent_port=1611\n")
    request = make("suncluster", tmp_path / "out", site="testsite", db_path=str(db))
    plan = plan_of(request)
    assert "Port_list=1607/tcp,1611/tcp" in plan.after
    request = make("suncluster", tmp_path / "out", site="testsite", db_path=str(db), options=dict(nqs_port=2607))
    assert "Port_list=2607/tcp,1611/tcp" in plan_of(request).after


def test_suncluster_gds_properties_are_one_word_each(tmp_path):
    request = make("suncluster", tmp_path, site="testsite", db_path="/mnt/jobdb", service_name="jcservice",
                   root="/tmp/node1")
    options = products.backend_for("suncluster").options(request)
    gds = suncluster.steps(request, options, (607, 611))[5][2]
    props = dict(gds[i + 1].split("=", 1) for i, word in enumerate(gds) if word == "-p")
    assert props == {
        "Start_command": "/tmp/node1/usr/lib/nqs/cluster/cjcpw --root /tmp/node1 testsite /mnt/jobdb",
        "Stop_command": "/tmp/node1/usr/lib/nqs/cluster/cjcpw --root /tmp/node1 -stop testsite",
        "Port_list": "607/tcp,611/tcp",
        "Resource_dependencies": "jcservice-lh,jcservice-hasp",
        "Network_resources_used": "jcservice-lh"}


def test_clusterpro_windows_refuses_a_watch_id_of_another_site(tmp_path):
    other = make("clusterpro_windows", tmp_path / "group1", site="othersite", db_path="/mnt/other",
                 options=dict(WIN, watch_id="JOBSTART"))
    converge(other)
    mine = make("clusterpro_windows", tmp_path / "group2", site="testsite", db_path="/mnt/jobdb",
                options=dict(WIN, watch_id="JOBSTART"))
    with pytest.raises(ConfigError, match="watch ID JOBSTART is already used by site othersite"):
        plan_of(mine)
    default = make("clusterpro_windows", tmp_path / "group2", site="testsite", db_path="/mnt/jobdb", options=WIN)
    assert converge(default).result["resources"]["watch_id"] == "JOBSTART_TESTSITE"


def test_windows_files_are_ascii_with_crlf(tmp_path):
    converge(make("clusterpro_windows", tmp_path, site="testsite", db_path="/mnt/jobdb", options=WIN))
    for name in ("start.bat", "stop.bat"):
        data = (tmp_path / name).read_bytes()
        data.decode("ascii")
        assert data.count(b"\r\n") == data.count(b"\n")


# -- the generated shell scripts are valid; the guide's samples are not -------------------------

SHELL_CASES = [c for c in CASES if c[0] in ("clusterpro", "suncluster", "suncluster22", "serviceguard")]


@pytest.mark.parametrize("product, case, args", SHELL_CASES, ids=["%s-%s" % c[:2] for c in SHELL_CASES])
def test_generated_shell_scripts_parse(tmp_path, product, case, args):
    converge(make(product, tmp_path, **args))
    for name in os.listdir(str(tmp_path)):
        shell = "bash" if name.endswith(".cntl") else "sh"  # control scripts use `function` (ksh/bash)
        result = subprocess.run([shell, "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert result.returncode == 0, (name, result.stderr)


GUIDE_CLUSTERPRO_START = """#! /bin/sh

if [ "$CLP_EVENT" = "START" ]
then
 if [ "$CLP_DISK" = "SUCCESS" ]
 then
  echo "NORMAL CJCPW STARTUP"
  /usr/lib/nqs/cluster/cjcpw testsite /mnt/jobdb
 fi
else
 #NO_CLP
fi
#EXIT

exit 0
"""


def test_the_guides_clusterpro_sample_is_a_syntax_error_so_we_echo_no_clp(tmp_path):
    sample = tmp_path / "guide.sh"
    sample.write_text(GUIDE_CLUSTERPRO_START)
    assert subprocess.run(["sh", "-n", str(sample)], capture_output=True).returncode != 0
    request = make("clusterpro", tmp_path, site="testsite", db_path="/mnt/jobdb")
    assert 'else\n echo "NO_CLP"\nfi\necho "EXIT"\n' in clusterpro.start_script(request)


# -- hostile values are refused before anything is rendered ------------------------------------

PRODUCTS = ["serviceguard", "clusterpro", "clusterpro_windows", "suncluster", "suncluster22", "msfc"]
VALID_OPTIONS = {"clusterpro_windows": WIN, "msfc": dict(site_directory="Y:\\Jobdb", disk="Cluster Disk 1")}


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("field, value", [
    ("site", "testsite;reboot"), ("site", "$(reboot)"), ("site", "test site"), ("site", "`id`"),
    ("db_path", "/mnt/job db"), ("db_path", "/mnt/$(reboot)"), ("db_path", "/mnt/jobdb;reboot"),
    ("db_path", '/mnt/"x'), ("db_path", "mnt/jobdb"),
    ("service_name", "jc service"), ("service_name", "jc';x"), ("dependencies", ["disk;x"]),
])
def test_hostile_request_values_are_refused(tmp_path, product, field, value):
    args = dict(site="testsite", db_path="/mnt/jobdb", options=VALID_OPTIONS.get(product, {}))
    args[field] = value
    with pytest.raises(CjcError):
        converge(make(product, tmp_path, **args))
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("product, options, message", [
    ("serviceguard", dict(control_file="/tmp/a b.cntl"), "control_file"),
    ("serviceguard", dict(service_restart="-r 1; reboot"), "service_restart"),
    ("serviceguard", dict(service_index="0]=x; reboot #"), "service_index"),
    ("serviceguard", dict(monitored="maybe"), "not a boolean"),
    ("clusterpro", dict(push_dir="/x;reboot"), "push_dir"),
    ("clusterpro", dict(failover_group="grp`id`"), "failover_group"),
    ("clusterpro", dict(colour="blue"), "has no option colour"),
    ("clusterpro_windows", dict(WIN, admin='Job-Admin" & del /q c:\\'), "admin"),
    ("clusterpro_windows", dict(WIN, site_directory='X:\\Jobdb" & calc'), "site_directory"),
    ("clusterpro_windows", dict(WIN, site_directory="X:\\%PATH%"), "site_directory"),
    ("clusterpro_windows", dict(WIN, install_dir="D:\\JobCenter^&calc"), "install_dir"),
    ("clusterpro_windows", dict(WIN, watch_id="JOB START"), "watch_id"),
    ("clusterpro_windows", dict(site_directory="X:\\Jobdb"), "needs options.admin"),
    ("suncluster", dict(netiflist="sc_ipmp0@1;reboot"), "netiflist"),
    ("suncluster", dict(resource_group="rg x"), "resource_group"),
    ("suncluster", dict(nqs_port="607/tcp,1/udp"), "nqs_port"),
    ("suncluster", dict(mount_points=["/mnt/$(x)"]), "mount_points"),
    ("suncluster22", dict(tag="Job Service"), "tag"),
    ("msfc", dict(site_directory="Y:\\Jobdb", disk="Disk'; Remove-Cluster -Force; '"), "disk"),
    ("msfc", dict(site_directory="Y:\\Jobdb'", disk="Cluster Disk 1"), "site_directory"),
    ("msfc", dict(site_directory="Y:\\Jobdb", disk="Cluster Disk 1", group="$(x)"), "group"),
])
def test_hostile_options_are_refused(tmp_path, product, options, message):
    request = make(product, tmp_path, site="testsite", db_path="/mnt/jobdb", options=options)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        converge(request)
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("root", ["/tmp/a b", "/tmp/$(reboot)", "/tmp/x;y", "relative"])
def test_a_root_that_would_need_quoting_is_refused(tmp_path, root):
    request = make("clusterpro", tmp_path, site="testsite", db_path="/mnt/jobdb", root=root)
    with pytest.raises(ConfigError, match="root .* is not allowed"):
        converge(request)


def test_config_dir_is_required(tmp_path):
    request = products.make_request("clusterpro", "testsite", "/mnt/jobdb")
    with pytest.raises(ConfigError, match="give config_dir"):
        plan_of(request)


def test_quoting_still_applies_to_every_value():
    """Defence in depth: the quoting helpers neutralise what validation would already refuse."""
    from cjc.plan.products._rendered import bat_quote, ps_quote, sh_double_quoted, sh_line
    assert sh_line(["/x/cjcpw", "a b", "$(id)"]) == "/x/cjcpw 'a b' '$(id)'"
    assert sh_double_quoted("/x/cjcpw '$(id)' `id` \"q\" \\") == '"/x/cjcpw \'\\$(id)\' \\`id\\` \\"q\\" \\\\"'
    assert ps_quote("it's") == "'it''s'"
    with pytest.raises(ConfigError):
        bat_quote('x" & calc')
    # what the shell really makes of them
    out = subprocess.run(["sh", "-c", "printf '%s|' " + sh_line(["a b", "$(id)", "'"])],
                         capture_output=True, text=True).stdout
    assert out == "a b|$(id)|'|"
    out = subprocess.run(["sh", "-c", "eval printf \"'%s|'\" " + sh_double_quoted(sh_line(["$(id)", "`id`"]))],
                         capture_output=True, text=True).stdout
    assert out == "$(id)|`id`|"
