"""Job users' UIDs and GIDs across the nodes of a cluster (guide §2.2.1, §2.3 step 4).

A job runs under its owner's *user ID*, so after a failover the standby must know
every job user with the same UID (and GID) as the active node. This module:

* reads one node's accounts (:func:`read_accounts`): NSS (``pwd``/``grp``) on a
  real node, ``<root>/etc/passwd`` and ``<root>/etc/group`` under a lab root prefix;
* compares the reports of all nodes against the active node (:func:`compare`) and
  renders the mismatch table (:func:`format_table`);
* plans the repair of one standby (:func:`plan_fix`, reads only) and applies it
  (:func:`apply_fix`): ``groupmod -g`` / ``usermod -u -g`` through an injected
  ``run(argv)`` callable, then re-owns the files that still carry the old IDs on the
  node's local file systems.

A repair is refused when the wanted ID belongs to another account on that node,
when the user has running processes, or when the user or group is missing there
(creating accounts is left to ``ansible.builtin.user``/``group``, which know the
shell, home and password policy).
"""

import os
import stat

from ..errors import CommandError, CjcError
from .changes import change


class UserIdError(CjcError):
    """Accounts differ between nodes, or a repair is refused."""


# File systems that are not local disks: never walked when re-owning files.
REMOTE_FSTYPES = frozenset(("nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "ceph", "glusterfs",
                            "fuse.sshfs", "fuse.glusterfs", "9p", "lustre", "gpfs", "ocfs2", "gfs2"))
PSEUDO_FSTYPES = frozenset(("proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs",
                            "tracefs", "securityfs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs",
                            "binfmt_misc", "autofs", "rpc_pipefs", "nsfs", "efivarfs", "selinuxfs"))


def _parse_colon_file(path, fields):
    entries = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= fields and parts[0] and not parts[0].startswith(("#", "+", "-")):
                    entries.append(parts)
    except FileNotFoundError:
        pass
    return entries


def _all_accounts(root):
    """({user: (uid, gid)}, {group: gid}) of this node."""
    if root in (None, "/"):
        import grp
        import pwd
        users = {p.pw_name: (p.pw_uid, p.pw_gid) for p in pwd.getpwall()}
        groups = {g.gr_name: g.gr_gid for g in grp.getgrall()}
    else:
        users = {e[0]: (int(e[2]), int(e[3])) for e in _parse_colon_file(os.path.join(root, "etc/passwd"), 7)
                 if e[2].isdigit() and e[3].isdigit()}
        groups = {e[0]: int(e[2]) for e in _parse_colon_file(os.path.join(root, "etc/group"), 4) if e[2].isdigit()}
    return users, groups


def read_accounts(users, groups, root="/"):
    """One node's report: ``{"users": {name: {"uid", "gid"} or None}, "groups": {name: gid or None},
    "uids": {uid: name}, "gids": {gid: name}}`` (the last two only for IDs of interest are needed,
    but all are kept small: only the IDs used by this node's accounts). ``groups`` holds the
    groups asked for and the primary groups of the users found (:func:`primary_groups`)."""
    all_users, all_groups = _all_accounts(root)
    report = {"users": {}, "groups": {}}
    for name in users:
        entry = all_users.get(name)
        report["users"][name] = {"uid": entry[0], "gid": entry[1]} if entry else None
    gid_owners = {gid: name for name, gid in sorted(all_groups.items(), reverse=True)}
    for name in sorted(set(groups) | primary_groups(report["users"], gid_owners)):
        report["groups"][name] = all_groups.get(name)
    report["uid_owners"] = {str(uid): name for name, (uid, _gid) in sorted(all_users.items(), reverse=True)}
    report["gid_owners"] = {str(gid): name for gid, name in gid_owners.items()}
    return report


def primary_groups(users, gid_owners):
    """Names of the primary groups of ``users`` (a report's entries) on this node.

    They are compared (and fixed) with the users without being listed: a user whose
    primary GID differs is repaired with its group (``groupmod -g``, which moves the
    members' primary GID too), never left for the operator to name. A group with
    another name on a standby is not found by this name there: list it in ``groups``.
    """
    return {gid_owners[entry["gid"]] for entry in users.values() if entry and entry["gid"] in gid_owners}


def _ids(kind, entry):
    """(uid, gid) of a report entry: a user's ``{"uid", "gid"}``, a group's gid (uid None)."""
    return (entry["uid"], entry["gid"]) if kind == "user" else (None, entry)


def compare(reports, active):
    """Rows ``{kind, name, node, uid, gid, problem}`` for every difference from ``active``.

    ``reports`` maps node name -> :func:`read_accounts` report. A user or group the
    active node lacks is a row for the active node (nothing to match against).
    Users come first, then groups.
    """
    rows = []
    reference = reports[active]
    nodes = [active] + sorted(n for n in reports if n != active)
    for kind in ("user", "group"):
        key = kind + "s"
        for name in sorted(reference[key]):
            wanted = reference[key][name]
            for node in nodes:
                got = reports[node][key].get(name)
                if got is None:
                    rows.append({"kind": kind, "name": name, "node": node, "uid": None, "gid": None,
                                 "problem": "missing" + (" on the active node" if node == active else "")})
                elif wanted is not None and node != active and got != wanted:
                    uid, gid = _ids(kind, got)
                    want_uid, want_gid = _ids(kind, wanted)
                    rows.append({"kind": kind, "name": name, "node": node, "uid": uid, "gid": gid,
                                 "problem": "active has " + ("" if want_uid is None else "uid %d " % want_uid)
                                 + "gid %d" % want_gid})
    return rows


def format_table(rows, reports, active):
    """The mismatch table: every user/group with a problem, one line per node."""
    if not rows:
        return ""
    names = sorted({(r["kind"], r["name"]) for r in rows}, key=lambda k: (k[0] != "user", k[1]))
    nodes = [active] + sorted(n for n in reports if n != active)
    header = ("KIND", "NAME", "NODE", "UID", "GID", "PROBLEM")
    lines = []
    for kind, name in names:
        for node in nodes:
            report = reports[node]
            got = report[kind + "s"].get(name)
            uid, gid = ("-", "-") if got is None else _ids(kind, got)
            if kind == "group":
                uid = ""  # a group has no UID column
            problem = next((r["problem"] for r in rows
                            if (r["kind"], r["name"], r["node"]) == (kind, name, node)), "")
            label = node + (" (active)" if node == active else "")
            lines.append((kind, name, label, str(uid), str(gid), problem or "ok"))
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    text = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header] + lines]
    return "\n".join(text) + "\n"


def plan_fix(local, reference, node="this node", root="/"):
    """Commands that make ``local`` (this node's report) match ``reference`` (the active's).

    Returns ``{"commands": [argv...], "reown": {"uids": {old: new}, "gids": {old: new}},
    "changes": [text...], "records": [change record...]}``; raises UserIdError when the repair must be refused.
    Running processes are checked by :func:`check_no_processes` (it needs the OS).
    Under a lab root prefix the commands get ``--prefix <root>`` (they edit
    ``<root>/etc/passwd`` and ``<root>/etc/group``).
    """
    prefix = [] if root in (None, "/") else ["--prefix", root]
    commands, uids, gids, changes, records, refusals = [], {}, {}, [], [], []
    for name, wanted in sorted(reference["groups"].items()):
        got = local["groups"].get(name)
        if wanted is None or got == wanted:
            continue
        if got is None:
            refusals.append("group %s is missing on %s: create it with gid %d (ansible.builtin.group)"
                            % (name, node, wanted))
            continue
        owner = local["gid_owners"].get(str(wanted))
        if owner and owner != name:
            refusals.append("cannot give group %s gid %d on %s: gid %d belongs to group %s there"
                            % (name, wanted, node, wanted, owner))
            continue
        commands.append(["groupmod"] + prefix + ["-g", str(wanted), name])
        gids[got] = wanted
        changes.append("group %s: gid %d -> %d" % (name, got, wanted))
        records.append(change("group_id", name, got, wanted))
    for name, wanted in sorted(reference["users"].items()):
        got = local["users"].get(name)
        if wanted is None or got == wanted:
            continue
        if got is None:
            refusals.append("user %s is missing on %s: create it with uid %d gid %d (ansible.builtin.user)"
                            % (name, node, wanted["uid"], wanted["gid"]))
            continue
        argv = ["usermod"] + prefix
        if got["uid"] != wanted["uid"]:
            owner = local["uid_owners"].get(str(wanted["uid"]))
            if owner and owner != name:
                refusals.append("cannot give user %s uid %d on %s: uid %d belongs to user %s there"
                                % (name, wanted["uid"], node, wanted["uid"], owner))
                continue
            argv += ["-u", str(wanted["uid"])]
            uids[got["uid"]] = wanted["uid"]
        # groupmod -g also moves the primary GID of the group's members: -g only for another group
        if gids.get(got["gid"], got["gid"]) != wanted["gid"]:
            mapped = set(gids.values())
            if prefix:
                refusals.append("cannot change the primary group of user %s to gid %d under root prefix %s: "
                                "usermod --prefix cannot look groups up; change it on the node itself"
                                % (name, wanted["gid"], root))
                continue
            if str(wanted["gid"]) not in local["gid_owners"] and wanted["gid"] not in mapped:
                refusals.append("cannot give user %s primary gid %d on %s: no group has gid %d there; list "
                                "the user's primary group in groups: it has another name here than on the active node"
                                % (name, wanted["gid"], node, wanted["gid"]))
                continue
            argv += ["-g", str(wanted["gid"])]
        if len(argv) > 1 + len(prefix):
            commands.append(argv + [name])
        changes.append("user %s: uid %d gid %d -> uid %d gid %d"
                       % (name, got["uid"], got["gid"], wanted["uid"], wanted["gid"]))
        records.append(change("user_ids", name, dict(got), dict(wanted)))
    if refusals:
        raise UserIdError("; ".join(refusals))
    return {"commands": commands, "reown": {"uids": uids, "gids": gids}, "changes": changes, "records": records}


def predicted_accounts(local, reference):
    """This node's ``{"users", "groups"}`` as they will be after :func:`plan_fix` is applied."""
    users = dict(local["users"])
    groups = dict(local["groups"])
    for name, wanted in reference["users"].items():
        if users.get(name) is not None and wanted is not None:
            users[name] = dict(wanted)
    for name, wanted in reference["groups"].items():
        if groups.get(name) is not None and wanted is not None:
            groups[name] = wanted
    return {"users": users, "groups": groups}


def check_no_processes(local, reference, node="this node"):
    """Raise UserIdError when a user whose UID is to change has running processes here."""
    import psutil
    moving = {}
    for name, wanted in reference["users"].items():
        got = local["users"].get(name)
        if got and wanted and got["uid"] != wanted["uid"]:
            moving[got["uid"]] = name
    if not moving:
        return
    busy = {}
    for process in psutil.process_iter(["pid", "uids"]):
        uids = process.info.get("uids")
        if uids and uids.real in moving:
            busy.setdefault(moving[uids.real], []).append(process.info["pid"])
    if busy:
        raise UserIdError("; ".join("user %s has running processes on %s (pids %s): stop them before its "
                                    "UID can change" % (name, node, ", ".join(map(str, sorted(p)[:10])))
                                    for name, p in sorted(busy.items())))


def local_filesystems(mounts_file="/proc/self/mounts"):
    """Mount points of this node's local, real file systems (no network or pseudo file systems)."""
    found = []
    with open(mounts_file, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) < 3:
                continue
            mount_point = parts[1].replace("\\040", " ")
            if parts[2] in REMOTE_FSTYPES or parts[2] in PSEUDO_FSTYPES:
                continue
            found.append(mount_point)
    return sorted(set(found))


def find_files_to_reown(paths, uids, gids):
    """[(path, new uid or -1, new gid or -1)] of every file under ``paths`` (one file system
    each, symlinks not followed) whose owner or group is an old ID of ``uids``/``gids``."""
    found = []
    if not uids and not gids:
        return found
    seen = set()
    for top in paths:
        try:
            device = os.lstat(top).st_dev
        except FileNotFoundError:
            continue
        for directory, dirs, files in os.walk(top):
            kept = []
            for name in dirs:
                path = os.path.join(directory, name)
                st = os.lstat(path)
                if st.st_dev == device and not stat.S_ISLNK(st.st_mode):
                    kept.append(name)
            dirs[:] = kept
            for path in [directory] + [os.path.join(directory, n) for n in files + dirs]:
                if path in seen:
                    continue
                seen.add(path)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                new_uid = uids.get(st.st_uid, -1)
                new_gid = gids.get(st.st_gid, -1)
                if new_uid != -1 or new_gid != -1:
                    found.append((path, new_uid, new_gid))
    return found


def apply_fix(plan, run, reown_paths):
    """Run the plan's commands (``run(argv) -> (rc, out, err)``), then re-own the files.

    Returns the number of files re-owned. Raises CommandError for a failing command.
    """
    files = find_files_to_reown(reown_paths, plan["reown"]["uids"], plan["reown"]["gids"])
    for argv in plan["commands"]:
        rc, out, err = run(argv)
        if rc != 0:
            raise CommandError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()),
                               argv=argv, rc=rc, stdout=out, stderr=err)
    for path, uid, gid in files:
        # usermod already re-owned the home directory; lchown again is harmless
        os.lchown(path, uid, gid)
    return len(files)
