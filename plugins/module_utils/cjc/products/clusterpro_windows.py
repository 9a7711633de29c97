"""CLUSTERPRO for Windows backend of ``cjc_cluster_service`` (guide §4.2, SPEC §3). Rendered only.

What it writes into ``config_dir`` (the group's script directory): ``start.bat`` and
``stop.bat`` following the guide's samples (§4.2.2), ASCII with CRLF line ends:

* start (``CLP_EVENT`` START or FAILOVER, ``CLP_DISK`` not FAILURE):
  ``ARMLOAD <watch_id> /M /U <admin> "<install_dir>\\bin\\cluster\\cjcpw" "<site>" "<site_directory>"``
  (monitored: ``/M`` shuts the node down when cjcpw ends) or
  ``ARMLOAD <watch_id> /U <admin> "...cjcpw" "-c" "<site>" "<site_directory>"``;
* stop: ``ARMKILL <watch_id> /C`` (cancel the watch: monitored only) *before*
  ``"...cjcpw" -stop <site>``.

The site database is a Windows path, ``options.site_directory`` (``db_path`` of the
request is the POSIX form the other products use and is not written here).
``options.watch_id`` defaults to ``JOBSTART_<first label of the site>``; the watch IDs
of the ``start.bat`` files in the sibling directories of ``config_dir`` (the other
groups) are read, and one already used by another site is refused: a watch ID must be
unique in the cluster (§4.2.1 (1)).
"""

import os
import re

from ..errors import ConfigError
from . import ABSENT
from ._rendered import (REQUIRED, RenderedBackend, bat_quote, opt_account, opt_bool, opt_match,
                        opt_windows_path)

_ARMLOAD = re.compile(r"^\s*ARMLOAD\s+(\S+)\s", re.IGNORECASE)


def default_watch_id(request):
    return "JOBSTART_" + re.sub(r"[^A-Za-z0-9]", "_", request.site.split(".")[0]).upper()[:22]


def cjcpw_path(options):
    return options["install_dir"].rstrip("\\") + "\\bin\\cluster\\cjcpw"


def armload_line(request, options):
    flags = "/M /U" if options["monitored"] else "/U"
    args = [bat_quote(cjcpw_path(options))] + ([bat_quote("-c")] if not options["monitored"] else []) + \
        [bat_quote(request.site), bat_quote(options["site_directory"])]
    return "ARMLOAD %s %s %s %s" % (options["watch_id"], flags, options["admin"], " ".join(args))


def _crlf(lines):
    return "\r\n".join(lines) + "\r\n"


def start_bat(request, options):
    armload = armload_line(request, options)
    return _crlf([
        "rem ***************************************",
        "rem *              start.bat              *",
        "rem *  JobCenter site %-20s*" % request.site[:20],
        "rem ***************************************",
        "",
        "rem ***************************************",
        "rem Check the cause of the start",
        "rem ***************************************",
        'IF "%CLP_EVENT%" == "START" GOTO NORMAL',
        'IF "%CLP_EVENT%" == "FAILOVER" GOTO FAILOVER',
        'IF "%CLP_EVENT%" == "RECOVER" GOTO RECOVER',
        "",
        "rem CLUSTERPRO Server is not running",
        "GOTO no_arm",
        "",
        "rem ***************************************",
        "rem Normal start",
        "rem ***************************************",
        ":NORMAL",
        "",
        "rem Disk check",
        'IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK',
        "",
        "rem *** JobCenter ***",
        armload,
        "",
        "rem Priority check",
        'IF "%CLP_SERVER%" == "OTHER" GOTO ON_OTHER1',
        "rem Work on the highest-priority server",
        "GOTO EXIT",
        "",
        ":ON_OTHER1",
        "rem Work on another server",
        "GOTO EXIT",
        "",
        "rem ***************************************",
        "rem Recovery",
        "rem ***************************************",
        ":RECOVER",
        "",
        "rem Recovery after the server returned to the cluster",
        "GOTO EXIT",
        "",
        "rem ***************************************",
        "rem Failover",
        "rem ***************************************",
        ":FAILOVER",
        "",
        "rem Disk check",
        'IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK',
        "",
        "rem *** JobCenter ***",
        armload,
        "",
        "rem Priority check",
        'IF "%CLP_SERVER%" == "OTHER" GOTO ON_OTHER2',
        "rem Work on the highest-priority server (after failover)",
        "GOTO EXIT",
        "",
        ":ON_OTHER2",
        "rem Work on another server (after failover)",
        "GOTO EXIT",
        "",
        "rem ***************************************",
        "rem Errors",
        "rem ***************************************",
        "",
        "rem Disk error",
        ":ERROR_DISK",
        'ARMBCAST /MSG "Failed to connect the switched partition" /A',
        "GOTO EXIT",
        "",
        "rem CLUSTERPRO Server is not running",
        ":no_arm",
        'ARMBCAST /MSG "CLUSTERPRO Server is not running" /A',
        "",
        ":EXIT",
    ])


def stop_bat(request, options):
    stop = ["ARMKILL %s /C" % options["watch_id"]] if options["monitored"] else []
    stop.append("%s -stop %s" % (bat_quote(cjcpw_path(options)), request.site))
    title = "rem *** JobCenter: cancel the ARMLOAD watch, then stop the site ***" if options["monitored"] \
        else "rem *** JobCenter: stop the site ***"
    return _crlf([
        "rem ***************************************",
        "rem *              stop.bat               *",
        "rem *  JobCenter site %-20s*" % request.site[:20],
        "rem ***************************************",
        "",
        "rem ***************************************",
        "rem Check the cause of the stop",
        "rem ***************************************",
        'IF "%CLP_EVENT%" == "START" GOTO NORMAL',
        'IF "%CLP_EVENT%" == "FAILOVER" GOTO FAILOVER',
        "",
        "rem CLUSTERPRO Server is not running",
        "GOTO no_arm",
        "",
        "rem ***************************************",
        "rem Normal stop",
        "rem ***************************************",
        ":NORMAL",
        "",
        "rem Disk check",
        'IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK',
        "",
        title,
    ] + stop + [
        "",
        "rem Priority check",
        'IF "%CLP_SERVER%" == "OTHER" GOTO ON_OTHER1',
        "rem Work on the highest-priority server",
        "GOTO EXIT",
        "",
        ":ON_OTHER1",
        "rem Work on another server",
        "GOTO EXIT",
        "",
        "rem ***************************************",
        "rem Failover",
        "rem ***************************************",
        ":FAILOVER",
        "",
        "rem Disk check",
        'IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK',
        "",
        title,
    ] + stop + [
        "",
        "rem Priority check",
        'IF "%CLP_SERVER%" == "OTHER" GOTO ON_OTHER2',
        "rem Work on the highest-priority server (after failover)",
        "GOTO EXIT",
        "",
        ":ON_OTHER2",
        "rem Work on another server (after failover)",
        "GOTO EXIT",
        "",
        "rem ***************************************",
        "rem Errors",
        "rem ***************************************",
        "",
        "rem Disk error",
        ":ERROR_DISK",
        'ARMBCAST /MSG "Failed to connect the switched partition" /A',
        "GOTO EXIT",
        "",
        "rem CLUSTERPRO Server is not running",
        ":no_arm",
        'ARMBCAST /MSG "CLUSTERPRO Server is not running" /A',
        "",
        ":EXIT",
    ])


def watch_ids_of(text):
    """{watch_id: site} of the ARMLOAD lines of a start.bat."""
    found = {}
    for line in (text or "").splitlines():
        match = _ARMLOAD.match(line)
        quoted = re.findall(r'"([^"]*)"', line)
        if match and len(quoted) >= 2:
            found[match.group(1).upper()] = quoted[-2]  # "...cjcpw" ["-c"] "<site>" "<site directory>"
    return found


class ClusterproWindowsBackend(RenderedBackend):
    OPTIONS = {
        "monitored": (opt_bool, True),
        "site_directory": (opt_windows_path, REQUIRED),
        "install_dir": (opt_windows_path, "C:\\JobCenter\\SV"),
        "admin": (opt_account, REQUIRED),
        "watch_id": (opt_match(r"^[A-Za-z][A-Za-z0-9_]{0,31}$",
                               "a letter, then letters, digits and '_' (at most 32)"), default_watch_id),
    }

    def paths(self, request, options):
        return [os.path.join(request.config_dir, "start.bat"), os.path.join(request.config_dir, "stop.bat")]

    def read_more(self, request, options, run, cli):
        """The watch IDs used by the start.bat of the other groups (sibling directories)."""
        here = os.path.normpath(request.config_dir)
        parent = os.path.dirname(here)
        others = {}
        try:
            entries = sorted(os.listdir(parent))
        except OSError:
            entries = []
        for entry in entries:
            path = os.path.join(parent, entry, "start.bat")
            if os.path.join(parent, entry) != here and os.path.isfile(path):
                with open(path, encoding="ascii", errors="replace") as handle:
                    for watch_id, site in watch_ids_of(handle.read()).items():
                        others[watch_id] = (site, path)
        return {"other_watch_ids": others}

    def render(self, request, current):
        start, stop = self.paths(request, current["options"])
        if request.state == ABSENT:
            return {start: None, stop: None}
        options = current["options"]
        taken = current.get("other_watch_ids", {}).get(options["watch_id"].upper())
        if taken and taken[0] != request.site:
            raise ConfigError("watch ID %s is already used by site %s (%s); a watch ID must be unique in the cluster: "
                              "set options.watch_id" % (options["watch_id"], taken[0], taken[1]))
        return {start: start_bat(request, options), stop: stop_bat(request, options)}

    def mode(self, path):
        return 0o644

    def commands(self, request, current):
        return []

    def settings(self, request, current):
        options = current["options"]
        return ["register the account %s in CLUSTERPRO (Cluster > Properties: accounts) so ARMLOAD /U can run "
                "cjcpw as the JobCenter administrator (guide 4.2.1 (1))" % options["admin"],
                "set start.bat and stop.bat as the group's start and stop scripts in the CLUSTERPRO manager",
                "watch ID %s belongs to site %s: no other ARMLOAD in the cluster may use it"
                % (options["watch_id"], request.site)]

    def resources(self, request, current):
        return {"watch_id": current["options"]["watch_id"], "group_scripts": request.config_dir}
