"""HP Serviceguard backend of ``cjc_cluster_service`` (guide §3.1).

What it writes: the package control script ``options.control_file`` (default
``<config_dir>/<service_name>.cntl``), merged between marker lines
``# BEGIN cjc.cluster <kind> <site>`` / ``# END cjc.cluster <kind> <site>`` so the
rest of an existing control script stays byte-identical:

monitored (``options.monitored``, default true; guide §3.1.1)
    the service block ``SERVICE_NAME[i]=<service_name>``,
    ``SERVICE_CMD[i]="/usr/lib/nqs/cluster/cjcpw <site> <db>"``, ``SERVICE_RESTART[i]``;
    Serviceguard runs the command, watches it and halts it with SIGTERM, on which
    ``cjcpw`` stops the site orderly. ``i`` is ``options.service_index``, else the
    smallest index no ``SERVICE_NAME[...]`` outside our block uses.
unmonitored (§3.1.2)
    ``/usr/lib/nqs/cluster/cjcpw -c <site> <db>`` in ``customer_defined_run_cmds`` and
    ``/usr/lib/nqs/cluster/cjcpw -stop <site>`` in ``customer_defined_halt_cmds``.
``options.portkeeper`` (§3.1.3)
    ``/usr/lib/nqs/nqsportkpr <site>`` as the *first* run command (both modes).

Where a block goes: where our block already is; else the service block after the last
``SERVICE_*[n]`` line of the file (or before its first function); the run/halt
commands as the first lines inside the file's own ``customer_defined_*_cmds``
function when it has one, else as a whole function (a fresh file holds just our
blocks: the fragment to paste into a package control script).

Commands: ``cmcheckconf -P`` and ``cmapplyconf -P`` on ``options.package_config``
(the package ASCII file naming this control script), run here when ``cmapplyconf``
is on PATH; the control script must be copied to the same path on every node.
"""

import os
import re

from ...errors import ConfigError
from . import ABSENT
from ._rendered import (RenderedBackend, opt_abspath, opt_bool, opt_match, portkeeper_argv, sh_double_quoted,
                        sh_line, start_argv, stop_argv)

_SERVICE_LINE = re.compile(r"^\s*SERVICE_(?:NAME|CMD|RESTART)\[(\d+)\]=")
_SERVICE_NAME = re.compile(r"^\s*SERVICE_NAME\[(\d+)\]=")
_FUNCTION = re.compile(r"^\s*(?:function\s+[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*\s*\(\s*\))")
KINDS = ("service", "run", "halt")
FUNCTIONS = {"run": "customer_defined_run_cmds", "halt": "customer_defined_halt_cmds"}


def _begin(kind, site):
    return "# BEGIN cjc.cluster %s %s" % (kind, site)


def _end(kind, site):
    return "# END cjc.cluster %s %s" % (kind, site)


def find_block(lines, kind, site):
    """(start, end) line indexes of our ``kind`` block (end inclusive), or None; ConfigError if unterminated."""
    begin, end = _begin(kind, site), _end(kind, site)
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == begin:
            for j in range(i + 1, len(lines)):
                if lines[j].rstrip("\r\n") == end:
                    return i, j
            raise ConfigError("the control file has %r without %r; fix or remove that block by hand" % (begin, end))
    return None


def _outside(lines, site):
    """Indexes of lines not inside any of our blocks."""
    inside = set()
    for kind in KINDS:
        block = find_block(lines, kind, site)
        if block:
            inside.update(range(block[0], block[1] + 1))
    return [i for i in range(len(lines)) if i not in inside]


def used_service_indexes(lines, site):
    return {int(m.group(1)) for i in _outside(lines, site) for m in [_SERVICE_NAME.match(lines[i])] if m}


def _function_open(lines, site, name):
    """Index of the line after which the body of function ``name`` (outside our blocks) starts, or None."""
    pattern = re.compile(r"^\s*(?:function\s+%s\b|%s\s*\(\s*\))" % (name, name))
    outside = _outside(lines, site)
    for pos, i in enumerate(outside):
        if pattern.match(lines[i]):
            if "{" in lines[i]:
                return i
            for j in outside[pos + 1:]:
                if lines[j].strip() in ("{", "\uff5b"):
                    return j
            return None
    return None


def service_index(lines, request, options):
    used = used_service_indexes(lines, request.site)
    if options["service_index"] is not None:
        if options["service_index"] in used:
            raise ConfigError("SERVICE_NAME[%d] is already used in the control file by another service; choose "
                              "another options.service_index" % options["service_index"])
        return options["service_index"]
    index = 0
    while index in used:
        index += 1
    return index


def block_body(kind, request, options, index, inner):
    """Lines (without markers) of our ``kind`` block; ``inner``: inside the file's own function."""
    if kind == "service":
        return ["#", "# CJC Service", "#",
                "SERVICE_NAME[%d]=%s" % (index, request.service_name),
                "SERVICE_CMD[%d]=%s" % (index, sh_double_quoted(sh_line(start_argv(request, True)))),
                "SERVICE_RESTART[%d]=%s" % (index, sh_double_quoted(options["service_restart"]))]
    if kind == "run":
        commands = [portkeeper_argv(request)] if options["portkeeper"] else []
        if not options["monitored"]:
            commands.append(start_argv(request, False))
    else:
        commands = [stop_argv(request)]
    body = [" " + sh_line(argv) for argv in commands]
    return body if inner else ["function %s" % FUNCTIONS[kind], "{"] + body + ["}"]


def wanted_kinds(options):
    kinds = []
    if options["monitored"]:
        kinds.append("service")
    if options["portkeeper"] or not options["monitored"]:
        kinds.append("run")
    if not options["monitored"]:
        kinds.append("halt")
    return kinds


def merge(text, request, options):
    """The control file ``text`` (None: no file) with our blocks as ``request`` wants them (pure).

    Returns None when nothing is left (state absent on a file holding only our blocks).
    """
    newline = "\r\n" if text and "\r\n" in text else "\n"
    lines = (text or "").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    wanted = [] if request.state == ABSENT else wanted_kinds(options)
    index = service_index(lines, request, options) if "service" in wanted else None
    for kind in KINDS:
        block = find_block(lines, kind, request.site)
        if kind not in wanted:
            if block:
                del lines[block[0]:block[1] + 1]
            continue
        inner = kind != "service" and _function_open(lines, request.site, FUNCTIONS[kind]) is not None
        new = [_begin(kind, request.site)] + block_body(kind, request, options, index, inner) + \
              [_end(kind, request.site)]
        new = [line + newline for line in new]
        if block:
            lines[block[0]:block[1] + 1] = new
            continue
        if inner:
            at = _function_open(lines, request.site, FUNCTIONS[kind]) + 1
        else:
            at = _insert_point(lines, request.site, kind)
        lines[at:at] = new
    result = "".join(lines)
    return result if result.strip() else None


def _insert_point(lines, site, kind):
    outside = _outside(lines, site)
    if kind == "service":
        service_lines = [i for i in outside if _SERVICE_LINE.match(lines[i])]
        if service_lines:
            return service_lines[-1] + 1
    functions = [i for i in outside if _FUNCTION.match(lines[i])]
    if functions:
        return functions[0]
    return len(lines)


def _index(name, value):
    if isinstance(value, bool) or not str(value).isdigit() or int(value) > 255:
        raise ConfigError("option %s=%r is not valid: a service index from 0 to 255" % (name, value))
    return int(value)


class ServiceguardBackend(RenderedBackend):
    cli = "cmapplyconf"
    OWN_MODES = False  # the control script is the package's: its mode stays the operator's
    OPTIONS = {
        "monitored": (opt_bool, True),
        "portkeeper": (opt_bool, False),
        "control_file": (opt_abspath, None),
        "service_index": (_index, None),
        "service_restart": (opt_match(r"^(|-R|-r [0-9]{1,4})$", 'use "" (no restart), "-r <count>" or "-R"'), ""),
        "package_config": (opt_abspath, None),
    }

    def control_file(self, request, options):
        return options["control_file"] or os.path.join(request.config_dir, "%s.cntl" % request.service_name)

    def paths(self, request, options):
        return [self.control_file(request, options)]

    def render(self, request, current):
        path = self.control_file(request, current["options"])
        return {path: merge(current["files"][path], request, current["options"])}

    def mode(self, path):
        return 0o755

    def commands(self, request, current):
        package = current["options"]["package_config"]
        if not package:
            return []
        return [(["cmcheckconf", "-P", package], True), (["cmapplyconf", "-P", package], True)]

    def settings(self, request, current):
        options = current["options"]
        path = self.control_file(request, options)
        found = ["copy %s to the same path on every node of the package (the control script runs where the "
                 "package starts)" % path]
        if options["monitored"]:
            found.append("the package configuration file lists the service: SERVICE_NAME %s, with "
                         "SERVICE_HALT_TIMEOUT above the site's STOP_TIMEOUT" % request.service_name)
        if not options["package_config"]:
            found.append("then check and apply the package: cmcheckconf -P <package.conf>; "
                         "cmapplyconf -P <package.conf> (give options.package_config to have them listed or run)")
        return found

    def resources(self, request, current):
        return {"package_service": request.service_name if current["options"]["monitored"] else None,
                "control_file": self.control_file(request, current["options"])}
