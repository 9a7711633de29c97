"""Ansible inventory of a lab, and the per-node wrappers it points at.

Connection ``ssh`` (default): ``ProxyCommand`` runs ``sshd -i`` inside the node
(no daemon, no port, no address in the root netns); everything Ansible does,
``raw``, ``script`` and ``fetch`` included, happens in the node. Needs Debian's
openssh-server.

Connection ``local`` (no extra package): every command Ansible runs
for a host, module or not (``command``, ``shell``, ``raw``, ``script``, the
module wrapper, the tmp-dir housekeeping), goes through that host's
``ansible_shell_executable``, a script that enters the node's namespaces and
execs ``/bin/sh``. Files Ansible transfers land in ``~/.ansible/tmp`` (shared by
all nodes: /root is not private) and are moved into place by the module, which
runs inside the node: ``copy`` and ``template`` write the node's own view.
Limits, seen with ansible-core 2.19: ``fetch`` copies through the controller's
view (wrong file or "checksum mismatch"; use ``slurp``) and ``raw`` runs on the
controller unless given ``executable=/bin/sh``.
"""

import json
import os
import shlex
import subprocess

_SSHD_CONFIG = """\
HostKey {base}/ssh/host_ed25519
AuthorizedKeysFile {base}/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def shell_wrapper(lab, node):
    """Host path of the script that runs /bin/sh "$@" on node."""
    return os.path.join(lab.base, "bin", "%s-sh" % node)


def python_wrapper(lab, node):
    """Host path of the script that runs /usr/bin/python3 "$@" on node."""
    return os.path.join(lab.base, "bin", "%s-python" % node)


def _write_exec(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def sshd_wrapper(lab, node):
    """Host path of the ProxyCommand script: sshd -i on node (exit 255 while it is down)."""
    return os.path.join(lab.base, "bin", "%s-sshd" % node)


def down_marker(lab, node):
    """Host path of the file that says node is down (kill_node makes it, revive_node removes it)."""
    return os.path.join(lab.node(node).state, "DOWN")


_WRAPPER = """\
#!/bin/sh
# {what} on node {node} of lab {lab} (written by tests/lab). A killed node is unreachable.
if [ -e {marker} ]; then echo "cjclab: node {node} is down (kill-node); revive-node brings it back" >&2; exit 255; fi
exec {enter} {argv}
"""


def write_wrappers(lab):
    os.makedirs(os.path.join(lab.base, "bin"), exist_ok=True)
    for node in lab.nodes:
        fmt = dict(node=node, lab=lab.config.name, marker=shlex.quote(down_marker(lab, node)),
                   enter=shlex.join(lab.nsenter_argv(node)))
        _write_exec(shell_wrapper(lab, node), _WRAPPER.format(
            what="/bin/sh", argv='/bin/sh "$@"', **fmt))
        _write_exec(python_wrapper(lab, node), _WRAPPER.format(
            what="python3", argv='/usr/bin/python3 "$@"', **fmt))
        _write_exec(sshd_wrapper(lab, node), _WRAPPER.format(
            what="sshd -i", argv="/usr/sbin/sshd -i -f %s"
            % shlex.quote(os.path.join(lab.base, "ssh", "sshd_config")), **fmt))


def _ssh_setup(lab):
    if not os.path.exists("/usr/sbin/sshd"):
        from .core import LabError
        raise LabError("connection=ssh needs /usr/sbin/sshd (apt-get install openssh-server), "
                       "or use connection=local")
    d = os.path.join(lab.base, "ssh")
    os.makedirs(d, exist_ok=True)
    for key in ("id_ed25519", "host_ed25519"):
        if not os.path.exists(os.path.join(d, key)):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cjclab",
                            "-f", os.path.join(d, key)], check=True)
    with open(os.path.join(d, "id_ed25519.pub")) as src, \
            open(os.path.join(d, "authorized_keys"), "w") as dst:
        dst.write(src.read())
    with open(os.path.join(d, "sshd_config"), "w") as fh:
        fh.write(_SSHD_CONFIG.format(base=lab.base))


def host_vars(lab, node):
    """Connection variables of one node, as a dict."""
    n = lab.node(node)
    v = {"cjclab_node_address": n.address, "cjclab_node_fqdn": n.fqdn}
    if lab.config.connection == "local":
        v.update(ansible_connection="local", ansible_shell_executable=shell_wrapper(lab, node))
    else:
        # distinct ansible_host per lab and node: the SSH control socket is keyed by it
        proxy = sshd_wrapper(lab, node)
        v.update(ansible_connection="ssh", ansible_host=n.netns, ansible_user="root",
                 ansible_ssh_private_key_file="%s/ssh/id_ed25519" % lab.base,
                 ansible_ssh_common_args="-o ProxyCommand=%s -o UserKnownHostsFile=/dev/null "
                                         "-o StrictHostKeyChecking=no -o LogLevel=ERROR"
                                         % shlex.quote(proxy))
    return v


def group_vars(lab):
    c = lab.config
    return {
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_pipelining": True,
        "cjclab_name": c.name,
        "cjclab_base": lab.base,
        "cjclab_site_name": lab.site_fqdn,
        "cjclab_site_address": lab.site_address,
        "cjclab_prefixlen": c.prefixlen,
        "cjclab_iface": c.iface,
        "cjclab_shared_path": c.shared_path,
        "cjclab_hub_address": lab.hub_address,
    }


def write(lab):
    """Write wrappers and <base>/inventory.yml; return the inventory path.

    Groups: cjc_active (first node), cjc_standby (the others), cjc_nodes (both).
    The file is JSON, which is YAML: no quoting pitfalls in the ProxyCommand.
    """
    write_wrappers(lab)
    if lab.config.connection == "ssh":
        _ssh_setup(lab)
    names = lab.node_names
    inv = {"all": {"children": {"cjc_nodes": {
        "vars": group_vars(lab),
        "children": {
            "cjc_active": {"hosts": {n: host_vars(lab, n) for n in names[:1]}},
            "cjc_standby": {"hosts": {n: host_vars(lab, n) for n in names[1:]}},
        }}}}}
    path = lab.inventory_path
    with open(path + ".tmp", "w") as fh:
        json.dump(inv, fh, indent=2)
        fh.write("\n")
    os.replace(path + ".tmp", path)
    return path
