"""The user commands start lean (docs/job-engine.md, "Command start"): what a user's qsub,
qstat, qdel and qmgr load, run as users run them (the installed file, its ``#!`` line)."""

import pwd
import subprocess

import pytest

from cjc.cli.options import Options
from cjc.errors import UsageError
from cjc.plan.install import LEAN_COMMANDS, install_engine

from jobsite import USER_PYTHON, Node, make_root, make_users, remove_root, remove_users

# loaded only on root's route, or by the root-only commands
HEAVY = ("sqlite3", "argparse", "tempfile", "shutil", "ipaddress", "cjc.jobs.store", "cjc.jobs.jobstore",
         "cjc.jobs.requests", "psutil")


@pytest.fixture(scope="module")
def site():
    make_users()
    layout = make_root()
    install_engine(layout, USER_PYTHON)  # the commands' #! line: an interpreter users can run (not the venv's)
    node = Node(layout)
    try:
        node.start_daemon("logdaemon")
        node.start()
        node.qmgr("stop queue guibs_1")
        yield node
    finally:
        node.cleanup()
        remove_root(layout)
        remove_users()


def as_user(node, argv, user="cjct1", stdin="", env=None):
    entry = pwd.getpwnam(user)
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=dict(node.env, **(env or {})),
                          user=entry.pw_uid, group=entry.pw_gid, timeout=30)


@pytest.mark.parametrize("argv,stdin", [(["/usr/bin/qsub", "-q", "guibs_1"], "true\n"),
                                        (["/usr/bin/qsub", "-q", "guibs_1", "-t", "1-3"], "true\n"),
                                        (["/usr/bin/qstat"], ""), (["/usr/bin/qstat", "-a"], ""),
                                        (["/usr/bin/qdel", "999999"], ""), (["/usr/bin/qmgr", "-c", "help"], "")])
def test_a_users_command_loads_nothing_of_roots_route(site, argv, stdin):
    """Run through its #! line (python3 -S) with the import log on: none of HEAVY is loaded."""
    done = as_user(site, [site.layout.path(argv[0])] + argv[1:], stdin=stdin, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1), done.stderr
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "cjc.net.client" in loaded  # the log is there: the check below can fail
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "site" not in loaded  # -S


def test_the_user_commands_are_installed_with_python_s_and_the_daemons_without(site):
    for documented in LEAN_COMMANDS:
        with open(site.layout.path(documented)) as handle:
            assert handle.readline().rstrip().endswith(" -S"), documented
    with open(site.layout.path("/usr/lib/nqs/nqsdaemon")) as handle:
        assert not handle.readline().rstrip().endswith(" -S")


def test_roots_route_still_opens_the_database(site):
    done = subprocess.run([site.layout.path("/usr/bin/qsub"), "-q", "guibs_1"], input="true\n", capture_output=True,
                          text=True, env=site.env, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("Request "), done.stderr


def options():
    parser = Options("qx", "A test command.")
    parser.add_argument("-q", dest="queue")
    parser.add_argument("-nr", dest="no_restart", action="store_true")
    parser.add_argument("-v", dest="variables", action="append")
    parser.add_argument("-t", dest="number", type=int)
    parser.add_argument("scripts", nargs="*", metavar="SCRIPT")
    return parser


def test_options_parse_like_argparse():
    args = options().parse_args(["a.sh", "-q", "guibs_1", "-nr", "-v", "A=1", "--root=/tmp/x", "-v", "B", "b.sh",
                                 "--", "-c.sh"])
    assert (args.queue, args.no_restart, args.variables, args.root, args.scripts, args.number) == (
        "guibs_1", True, ["A=1", "B"], "/tmp/x", ["a.sh", "b.sh", "-c.sh"], None)
    assert options().parse_args(["-t", "7", "--root", "/r"]).number == 7
    attached = options().parse_args(["-qguibs_1", "-vA=1", "-t7", "-nr"])  # as argparse takes short options
    assert (attached.queue, attached.variables, attached.number, attached.no_restart) == ("guibs_1", ["A=1"], 7, True)


@pytest.mark.parametrize("argv,message", [(["-z"], "unrecognized arguments: -z"),
                                          (["-q"], "argument -q: expected one argument"),
                                          (["--root"], "argument --root: expected one argument"),
                                          (["-nr=1"], "unrecognized arguments: -nr=1"),
                                          (["-t", "x"], "argument -t: invalid int value: 'x'"),
                                          (["-tx"], "argument -t: invalid int value: 'x'")])
def test_options_refuse_a_bad_command_line_with_the_usage_line(argv, message):
    with pytest.raises(UsageError) as caught:
        options().parse_args(argv)
    assert str(caught.value) == message + "\nusage: qx [-h] [--root DIR] [-q QUEUE] [-nr] [-v VARIABLES] [-t NUMBER] [SCRIPT ...]"


def test_options_help_prints_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as caught:
        options().parse_args(["a.sh", "-h"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("usage: qx [-h]")
