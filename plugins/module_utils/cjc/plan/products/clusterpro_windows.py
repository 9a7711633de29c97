"""CLUSTERPRO for Windows backend of ``cjc_cluster_service`` (guide §4.2). Rendered only.

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

from ...errors import ConfigError
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


_RULE = "rem ***************************************"


def _event_bat(request, name, cause, jobcenter, recover):
    """One start.bat or stop.bat (§4.2.2), a list of lines without line ends.

    Both scripts share the event dispatch, and for a normal start and a failover alike the
    disk check, ``jobcenter`` (the JobCenter lines) and the priority check; only start.bat
    has the RECOVER event (``recover``).
    """
    def event(title, label, other, after):
        return [
            _RULE,
            "rem " + title,
            _RULE,
            ":" + label,
            "",
            "rem Disk check",
            'IF "%CLP_DISK%" == "FAILURE" GOTO ERROR_DISK',
            "",
        ] + jobcenter + [
            "",
            "rem Priority check",
            'IF "%CLP_SERVER%" == "OTHER" GOTO ' + other,
            "rem Work on the highest-priority server" + after,
            "GOTO EXIT",
            "",
            ":" + other,
            "rem Work on another server" + after,
            "GOTO EXIT",
            "",
        ]

    recovery = [
        _RULE,
        "rem Recovery",
        _RULE,
        ":RECOVER",
        "",
        "rem Recovery after the server returned to the cluster",
        "GOTO EXIT",
        "",
    ] if recover else []
    return [
        _RULE,
        "rem *              %-23s*" % name,
        "rem *  JobCenter site %-20s*" % request.site[:20],
        _RULE,
        "",
        _RULE,
        "rem Check the cause of the " + cause,
        _RULE,
        'IF "%CLP_EVENT%" == "START" GOTO NORMAL',
        'IF "%CLP_EVENT%" == "FAILOVER" GOTO FAILOVER',
    ] + (['IF "%CLP_EVENT%" == "RECOVER" GOTO RECOVER'] if recover else []) + [
        "",
        "rem CLUSTERPRO Server is not running",
        "GOTO no_arm",
        "",
    ] + event("Normal " + cause, "NORMAL", "ON_OTHER1", "") + recovery + \
        event("Failover", "FAILOVER", "ON_OTHER2", " (after failover)") + [
        _RULE,
        "rem Errors",
        _RULE,
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
    ]


def start_bat(request, options):
    return _crlf(_event_bat(request, "start.bat", "start", ["rem *** JobCenter ***", armload_line(request, options)],
                            recover=True))


def stop_bat(request, options):
    if options["monitored"]:
        jobcenter = ["rem *** JobCenter: cancel the ARMLOAD watch, then stop the site ***",
                     "ARMKILL %s /C" % options["watch_id"]]
    else:
        jobcenter = ["rem *** JobCenter: stop the site ***"]
    jobcenter.append("%s -stop %s" % (bat_quote(cjcpw_path(options)), request.site))
    return _crlf(_event_bat(request, "stop.bat", "stop", jobcenter, recover=False))


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

    FILES = ("start.bat", "stop.bat")

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

    def texts(self, request, current):
        options = current["options"]
        taken = current.get("other_watch_ids", {}).get(options["watch_id"].upper())
        if taken and taken[0] != request.site:
            raise ConfigError("watch ID %s is already used by site %s (%s); a watch ID must be unique in the cluster: "
                              "set options.watch_id" % (options["watch_id"], taken[0], taken[1]))
        return [start_bat(request, options), stop_bat(request, options)]

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
