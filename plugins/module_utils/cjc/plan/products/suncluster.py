"""Sun Cluster / Solaris Cluster 3.2 backend of ``cjc_cluster_service`` (guide §5.1).

What it configures (figure 5-1): a resource group ``options.resource_group`` (default
``<service_name>-rg``) holding

1. ``options.logical_host`` (default ``<service_name>-lh``): ``SUNW.LogicalHostname`` for
   the site name (``-N options.netiflist``: the IPMP groups, when given);
2. ``options.storage`` (default ``<service_name>-hasp``): ``SUNW.HAStoragePlus`` with
   ``FilesystemMountPoints`` = ``options.mount_points`` (default: the site DB path);
3. ``service_name``: ``SUNW.gds`` with ``Start_command`` = ``/usr/lib/nqs/cluster/cjcpw
   <site> <db>`` (in the foreground: the cluster's PMF watches it), ``Stop_command`` =
   ``/usr/lib/nqs/cluster/cjcpw -stop <site>``, ``Port_list`` = the engine's ports
   ``<nqs_port>/tcp,<comagent_port>/tcp`` (``options.nqs_port``/``comagent_port``, else the
   site's daemon.conf, else 607 and 611), ``Resource_dependencies`` = the logical host
   and the storage, ``Network_resources_used`` = the logical host.

It writes ``<config_dir>/<service_name>-suncluster.sh``: the ``clresourcetype``,
``clresourcegroup``, ``clreslogicalhostname`` and ``clresource`` command lines, each
guarded so the script can be run again. When ``clresource`` is on this node's PATH it
lists the cluster's objects and runs the commands of the missing ones itself.
"""

import os

from . import ABSENT
from ._rendered import (RenderedBackend, opt_abspath, opt_match, opt_name, opt_port, sh_line, site_ports,
                        start_argv, stop_argv)
from ...config.layout import C_LOCALE
from ...errors import CommandError, ConfigError


def _mount_points(name, value):
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError("option %s must name at least one mount point" % name)
    return [opt_abspath(name, v) for v in values]


def names(request, options):
    return {"group": options["resource_group"] or "%s-rg" % request.service_name,
            "logical_host": options["logical_host"] or "%s-lh" % request.service_name,
            "storage": options["storage"] or "%s-hasp" % request.service_name,
            "gds": request.service_name}


def steps(request, options, ports):
    """[(kind, name, argv)] in order: what exists when each argv has run (pure)."""
    n = names(request, options)
    lh = ["clreslogicalhostname", "create", "-g", n["group"], "-h", request.site]
    if options["netiflist"]:
        lh += ["-N", options["netiflist"]]
    gds_properties = [
        "Start_command=" + sh_line(start_argv(request, True)),
        "Stop_command=" + sh_line(stop_argv(request)),
        "Port_list=%d/tcp,%d/tcp" % ports,
        "Resource_dependencies=%s,%s" % (n["logical_host"], n["storage"]),
        "Network_resources_used=%s" % n["logical_host"],
    ]
    gds = ["clresource", "create", "-g", n["group"], "-t", "SUNW.gds"]
    for prop in gds_properties:
        gds += ["-p", prop]
    return [
        ("resourcetype", "SUNW.HAStoragePlus", ["clresourcetype", "register", "SUNW.HAStoragePlus"]),
        ("resourcetype", "SUNW.gds", ["clresourcetype", "register", "SUNW.gds"]),
        ("resourcegroup", n["group"], ["clresourcegroup", "create", n["group"]]),
        ("resource", n["logical_host"], lh + [n["logical_host"]]),
        ("resource", n["storage"], ["clresource", "create", "-g", n["group"], "-t", "SUNW.HAStoragePlus", "-p",
                                    "FilesystemMountPoints=" + ",".join(options["mount_points"] or
                                                                        [request.db_path]), n["storage"]]),
        ("resource", n["gds"], gds + [n["gds"]]),
        ("online", n["group"], ["clresourcegroup", "online", "-eM", n["group"]]),
    ]


_SHOW = {"resourcetype": "clresourcetype", "resourcegroup": "clresourcegroup", "resource": "clresource"}


def setup_script(request, options, ports):
    lines = ["#!/bin/sh",
             "# Sun Cluster 3.2 resource group of JobCenter site %s (guide 5.1), made by cjc.cluster." % request.site,
             "# Run it once on one node of the cluster; it can be run again (each step is skipped when its",
             "# object exists).",
             "set -e",
             ""]
    for kind, name, argv in steps(request, options, ports):
        if kind == "online":
            lines += ["", sh_line(argv)]
        else:
            lines.append("%s show %s >/dev/null 2>&1 || %s" % (_SHOW[kind], sh_line([name]), sh_line(argv)))
    return "\n".join(lines) + "\n"


class SunclusterBackend(RenderedBackend):
    cli = "clresource"
    OPTIONS = {
        "resource_group": (opt_name, None),
        "logical_host": (opt_name, None),
        "storage": (opt_name, None),
        "netiflist": (opt_match(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+)*$",
                                "IPMP groups per node like sc_ipmp0@1,sc_ipmp0@2"), None),
        "mount_points": (_mount_points, None),
        "nqs_port": (opt_port, None),
        "comagent_port": (opt_port, None),
    }

    def paths(self, request, options):
        return [os.path.join(request.config_dir, "%s-suncluster.sh" % request.service_name)]

    def read_more(self, request, options, run, cli):
        current = {"ports": site_ports(request, options), "existing": None}
        if cli:
            existing = set()
            for kind, command in _SHOW.items():
                argv = [command, "list"]
                rc, out, err = run(argv, C_LOCALE)
                if rc != 0:
                    raise CommandError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()),
                                       argv=argv, rc=rc, stdout=out, stderr=err)
                for line in out.splitlines():
                    name = line.strip()
                    if kind == "resourcetype":
                        name = name.split(":")[0]  # SUNW.gds:6 -> SUNW.gds
                    if name:
                        existing.add((kind, name))
            current["existing"] = existing
        return current

    def texts(self, request, current):
        return [setup_script(request, current["options"], current["ports"])]

    def _missing(self, request, current):
        existing = current.get("existing")
        found = []
        for kind, name, argv in steps(request, current["options"], current["ports"]):
            if kind == "online":
                if found:
                    found.append(argv)
            elif existing is None or (kind, name) not in existing:
                found.append(argv)
        return found

    def pending(self, request, current):
        return request.state != ABSENT and bool(self._missing(request, current))

    def commands(self, request, current):
        if current.get("existing") is not None:
            return [(argv, True) for argv in self._missing(request, current)]
        return [(argv, True) for _kind, _name, argv in steps(request, current["options"], current["ports"])]

    def settings(self, request, current):
        n = names(request, current["options"])
        return ["the shared disk holding %s is a global device or a failover file system the HAStoragePlus "
                "resource %s can mount on every node" % (request.db_path, n["storage"]),
                "check with: clresource status -g %s; switch with: clresourcegroup switch -n <node> %s"
                % (n["group"], n["group"])]

    def resources(self, request, current):
        return names(request, current["options"])
