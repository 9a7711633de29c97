"""The project's two-node lab (tests/lab): what it makes, and that down() removes all of it."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from lab import Lab, LabConfig
from lab.core import _mountpoints_under
from lab.fixtures import lab_unavailable_reason, unique_name

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(lab_unavailable_reason() is not None,
                                 reason=lab_unavailable_reason() or "")]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
CLI = os.path.join(REPO, "tests", "lab", "cjclab")

# a one-line TCP server that answers every connection with the host name
_ECHO_HOSTNAME = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()\n"
    "while True:\n"
    "    c,_=s.accept(); c.sendall(socket.gethostname().encode()); c.close()\n")
_ASK = ("import socket,sys\n"
        "c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))\n"
        "print(c.recv(100).decode())\n")


def _ansible(name):
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def _ask_from_hub(lab, address, port=7070, deadline_s=5.0, timeout_s=2.0):
    """Host name that answers on address:port seen from the hub (the client side)."""
    end = time.monotonic() + deadline_s
    while True:
        cp = lab.hubx(sys.executable, "-c", _ASK, address, str(port), str(timeout_s),
                      check=False)
        if cp.returncode == 0 or time.monotonic() > end:
            return cp.stdout.strip()
        time.sleep(0.05)


def _lab_leftovers(lab, nsenter_handles):
    """Everything of lab still on the machine (empty list when down() did its job)."""
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=False).stdout
    for ns in [n.netns for n in lab.nodes.values()] + [lab.hub_netns]:
        if ns in netns.split():
            left.append("netns " + ns)
        if os.path.exists("/etc/netns/" + ns):
            left.append("/etc/netns/" + ns)
    left += ["mount " + m for m in _mountpoints_under(lab.base)]
    if os.path.exists(lab.base):
        left.append("dir " + lab.base)
    for pid in nsenter_handles:
        if os.path.exists("/proc/%d" % pid):
            with open("/proc/%d/stat" % pid) as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    left.append("process %d" % pid)
    return left


def test_lab_nodes_have_own_hostname_hosts_and_private_dirs(cjc_lab_clean):
    lab = cjc_lab_clean
    assert [lab.hostname(n) for n in lab.node_names] == ["node1", "node2"]
    for node in lab.node_names:
        # canonical name first: forward and reverse lookups agree (cjcmksite's check)
        fwd = lab.nsx(node, "getent", "hosts", lab.site_fqdn).stdout.split()
        assert fwd[:2] == [lab.site_address, "testsite.cjclab.example"]
        rev = lab.nsx(node, "getent", "hosts", lab.site_address).stdout.split()
        assert rev[1] == "testsite.cjclab.example"
    lab.write_file("node1", "/usr/lib/nqs/marker", "node1 only\n")
    assert lab.read_file("node1", "/usr/lib/nqs/marker") == "node1 only\n"
    assert lab.nsx("node2", "test", "-e", "/usr/lib/nqs/marker", check=False).returncode == 1
    assert not os.path.exists("/usr/lib/nqs/marker")
    with open(lab.host_path("node1", "/usr/lib/nqs/marker")) as fh:
        assert fh.read() == "node1 only\n"
    # /etc is copy-on-write per node: a user made on node2 does not exist on node1
    lab.write_file("node2", "/etc/cjclab-probe", "2\n")
    assert lab.nsx("node1", "test", "-e", "/etc/cjclab-probe", check=False).returncode == 1
    assert not os.path.exists("/etc/cjclab-probe")


def test_lab_shared_disk_is_seen_by_both_nodes(cjc_lab_clean):
    lab = cjc_lab_clean
    path = lab.config.shared_path + "/written-by-node1"
    lab.write_file("node1", path, "shared\n")
    assert lab.read_file("node2", path) == "shared\n"
    assert os.path.exists(os.path.join(lab.shared_dir, "written-by-node1"))


def test_lab_site_address_moves_and_answers_from_its_owner(cjc_lab_clean):
    lab = cjc_lab_clean
    assert lab.vip_owners() == []
    for node in lab.node_names:
        lab.start_daemon(node, sys.executable, "-c", _ECHO_HOSTNAME, "0.0.0.0", "7070")
    try:
        lab.move_vip("node1")
        assert lab.vip_owners() == ["node1"]
        assert _ask_from_hub(lab, lab.site_address) == "node1"
        t0 = time.monotonic()
        lab.move_vip("node2")
        assert lab.vip_owners() == ["node2"]
        assert _ask_from_hub(lab, lab.site_address) == "node2"
        assert time.monotonic() - t0 < 2.0
        # nothing of the lab's network exists in the root namespace
        root_addrs = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                                    text=True, check=False).stdout
        assert lab.site_address not in root_addrs and "10.213.0." not in root_addrs
    finally:
        for node in lab.node_names:
            lab._kill_pids(lab.pids(node))


def test_lab_kill_node_stops_everything_and_revive_boots_it_clean(cjc_lab_clean):
    lab = cjc_lab_clean
    pid = lab.start_daemon("node2", "sleep", "300")
    lab.move_vip("node2")
    lab.write_file("node2", "/run/stale.pid", "%d\n" % pid)
    lab.kill_node("node2")
    assert lab.pids("node2") == []
    assert lab.node_link_up("node2") is False
    assert _ask_from_hub(lab, lab.addresses("node2")[0], deadline_s=0, timeout_s=0.3) == ""
    lab.revive_node("node2")
    assert lab.node_link_up("node2") is True
    assert lab.vip_owners() == []
    assert lab.nsx("node2", "test", "-e", "/run/stale.pid", check=False).returncode == 1
    assert lab.nsx("node2", "test", "-d", "/run/lock").returncode == 0


_PLAYBOOK = """\
- name: Probe the lab nodes
  hosts: cjc_nodes
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
      register: ping
    - name: Gather the host name and addresses
      ansible.builtin.setup:
        gather_subset: ["!all", "!min", platform, network]
        filter: [ansible_hostname, ansible_all_ipv4_addresses]
    - name: Copy a file into /usr/lib/nqs of node1 only
      ansible.builtin.copy:
        src: "{payload}"
        dest: /usr/lib/nqs/from-ansible
        mode: "0644"
      when: inventory_hostname == 'node1'
    - name: Read the node's /etc/hostname
      ansible.builtin.slurp:
        src: /etc/hostname
      register: etc_hostname
    - name: Run a raw command
      ansible.builtin.raw: hostname
      register: raw_hostname
      changed_when: false
    - name: Report to the test's tmp dir (/tmp is not private to a node)
      ansible.builtin.copy:
        dest: "{out}/result-{{{{ inventory_hostname }}}}.json"
        mode: "0644"
        content: "{{{{ {{'ping': ping.ping, 'hostname': ansible_facts.hostname,
          'addresses': ansible_facts.all_ipv4_addresses,
          'etc_hostname': etc_hostname.content | b64decode,
          'raw_hostname': raw_hostname.stdout | trim}} | to_json }}}}"
"""


@pytest.mark.skipif(_ansible("ansible-playbook") is None,
                    reason="ansible not installed (make venv)")
@pytest.mark.parametrize("connection", ["ssh", "local"])
def test_lab_ansible_reaches_each_node_in_its_own_namespaces(cjc_lab_factory, tmp_path,
                                                             connection):
    if connection == "ssh" and not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server not installed (make apt-deps)")
    lab = cjc_lab_factory(connection=connection)
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_DEPRECATION_WARNINGS="0",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"), ANSIBLE_NOCOLOR="1",
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    payload = tmp_path / "payload"
    payload.write_text("from the controller\n")
    playbook = tmp_path / "probe.yml"
    playbook.write_text(_PLAYBOOK.format(payload=payload, out=tmp_path))
    cp = subprocess.run([_ansible("ansible-playbook"), "-i", lab.inventory_path, str(playbook)],
                        capture_output=True, text=True, env=env, timeout=180, check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    res = {n: json.loads((tmp_path / ("result-%s.json" % n)).read_text()) for n in lab.nodes}
    assert {n: r["ping"] for n, r in res.items()} == {"node1": "pong", "node2": "pong"}
    assert {n: r["hostname"] for n, r in res.items()} == {"node1": "node1", "node2": "node2"}
    assert {n: r["etc_hostname"] for n, r in res.items()} == {"node1": "node1\n",
                                                              "node2": "node2\n"}
    assert res["node2"]["addresses"] == ["10.213.0.2"]
    if connection == "ssh":
        # ssh: raw runs in the node too (with the local connection it runs on the controller)
        assert {n: r["raw_hostname"] for n, r in res.items()} == {"node1": "node1",
                                                                  "node2": "node2"}
    # copy lands in the node's own view of /usr/lib/nqs (and nowhere else)
    assert lab.read_file("node1", "/usr/lib/nqs/from-ansible") == "from the controller\n"
    assert lab.nsx("node2", "test", "-e", "/usr/lib/nqs/from-ansible",
                   check=False).returncode == 1
    assert not os.path.exists("/usr/lib/nqs/from-ansible")
    # a killed node is unreachable for Ansible until it is revived
    lab.kill_node("node2")
    if connection == "ssh":
        cp = subprocess.run([_ansible("ansible"), "-i", lab.inventory_path, "node2", "-m",
                             "ping"], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
        assert cp.returncode != 0 and "UNREACHABLE" in cp.stdout, cp.stdout
    else:  # every command Ansible runs goes through the wrapper, which refuses
        cp = subprocess.run([os.path.join(lab.base, "bin", "node2-sh"), "-c", "true"],
                            capture_output=True, text=True, check=False)
        assert cp.returncode == 255 and "node node2 is down" in cp.stderr
    lab.revive_node("node2")
    cp = subprocess.run([_ansible("ansible"), "-i", lab.inventory_path, "node2", "-m", "ping"],
                        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert cp.returncode == 0 and "pong" in cp.stdout, cp.stdout + cp.stderr
    # the groups of the inventory
    inv = subprocess.run([_ansible("ansible-inventory"), "-i", lab.inventory_path, "--list"],
                         capture_output=True, text=True, env=env, check=True)
    groups = json.loads(inv.stdout)
    assert groups["cjc_active"]["hosts"] == ["node1"]
    assert groups["cjc_standby"]["hosts"] == ["node2"]
    assert groups["cjc_nodes"]["children"] == ["cjc_active", "cjc_standby"]


def test_lab_cli_up_status_nsx_down_leaves_nothing(tmp_path):
    name = unique_name("ptc")
    base = str(tmp_path / "lab")  # a test writes only under /tmp
    env = dict(os.environ, CJCLAB_NAME=name, CJCLAB_BASE=base)
    t0 = time.monotonic()
    up = subprocess.run([CLI, "up", "--connection", "local", "--vip-on", "node2"],
                        capture_output=True, text=True, env=env, check=False)
    t_up = time.monotonic() - t0
    assert up.returncode == 0, up.stderr
    lab = Lab.load(base)
    handles = []
    try:
        st = json.loads(subprocess.run([CLI, "status", "--json"], capture_output=True,
                                       text=True, env=env, check=True).stdout)
        assert st["up"] is True and st["vip_owners"] == ["node2"]
        out = subprocess.run([CLI, "nsx", "node2", "hostname"], capture_output=True, text=True,
                             env=env, check=True).stdout
        assert out == "node2\n"
        handles.append(lab.start_daemon("node1", "sleep", "300"))
        handles.append(lab.start_daemon("node2", "sleep", "300"))
        # a second up repairs/replaces a lab that is already there
        assert subprocess.run([CLI, "up", "--connection", "local"], capture_output=True,
                              env=env, check=False).returncode == 0
        assert lab.is_up() and lab.pids("node1") == []
    finally:
        t0 = time.monotonic()
        down = subprocess.run([CLI, "down"], capture_output=True, text=True, env=env,
                              check=False)
        t_down = time.monotonic() - t0
    assert down.returncode == 0, down.stderr
    assert _lab_leftovers(lab, handles) == []
    assert t_up + t_down < 5.0, (t_up, t_down)
    # down of a lab that is not there is fine
    assert subprocess.run([CLI, "down"], env=env, check=False).returncode == 0


def test_lab_up_after_half_up_repairs_and_down_cleans(tmp_path):
    lab = Lab(LabConfig(name=unique_name("pth"), base=str(tmp_path / "lab"), connection="local"))
    # half-made: node1's mount namespace is gone, node2's netns was made by hand
    lab.up()
    subprocess.run(["umount", lab.nodes["node1"].mnt], check=True)
    subprocess.run(["ip", "netns", "del", lab.nodes["node2"].netns], check=True)
    subprocess.run(["ip", "netns", "add", lab.nodes["node2"].netns], check=True)
    lab.up()
    try:
        assert lab.is_up()
        assert lab.hostname("node1") == "node1"
    finally:
        lab.down()
    assert _lab_leftovers(lab, []) == []


def test_sandbox_has_given_addresses_and_hosts(cjc_sandbox):
    sb = cjc_sandbox(addresses=["10.213.9.10/24"], hostname="sbx",
                     hosts="10.213.9.10 site.cjclab.example site\n")
    assert sb.run("hostname").stdout == "sbx\n"
    assert sb.run("getent", "hosts", "site").stdout.split() == [
        "10.213.9.10", "site.cjclab.example", "site"]
    assert "10.213.9.10/24" in sb.run("ip", "-o", "-4", "addr").stdout
    sb.set_hosts("10.213.9.10 other.cjclab.example\n")
    assert sb.run("getent", "hosts", "10.213.9.10").stdout.split()[1] == "other.cjclab.example"


@pytest.mark.slow
def test_lab_pacemaker_cluster_comes_up_and_survives_a_node_kill(cjc_lab_factory):
    from lab.pacemaker import pacemaker_unavailable_reason
    reason = pacemaker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    lab = cjc_lab_factory(connection="local", pacemaker=True,
                          pacemaker_options={"token_ms": 1000})
    t_up = time.monotonic() - t0
    pcmk = lab.pacemaker
    st = pcmk.state("node1")
    assert st["online"] == ["node1", "node2"] and st["dc"] in ("node1", "node2")
    assert t_up < 30, t_up
    # lab only: no fencing (documented in docs/lab.md)
    prop = lab.nsx("node2", "crm_attribute", "--type", "crm_config", "--name",
                   "stonith-enabled", "--query", "--quiet").stdout.strip()
    assert prop == "false"
    lab.kill_node("node2")
    assert pcmk.daemon_pids("node2", "corosync") == []
    deadline = time.monotonic() + 20
    while pcmk.state("node1")["online"] != ["node1"]:
        assert time.monotonic() < deadline, pcmk.status_text()
        time.sleep(0.2)
    lab.revive_node("node2")
    pcmk.wait_online(timeout=30)
    assert pcmk.state("node2")["online"] == ["node1", "node2"]
