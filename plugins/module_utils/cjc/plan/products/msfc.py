"""Microsoft Failover Cluster backend of ``cjc_cluster_service`` (guide §6.1). Rendered only.

What it writes into ``config_dir``:

``<service_name>-msfc.ps1`` (run on one node, as a cluster administrator)
    the guide's steps as PowerShell (FailoverClusters module), each skipped when done:
    register the resource type ``JobCenterCluster`` (``JobCenterCluster.dll``, display
    name "NEC JobCenter Cluster Resource Type"; §6.1.1 (1), was ``cluster restype``),
    add the resource ``service_name`` of that type to the group ``options.group``
    (§6.1.3 (2)-(3)), set its parameters ``SiteName`` = site and ``SiteDirectory`` =
    ``options.site_directory`` (§6.1.3 (5)), and make it depend on the cluster disk
    ``options.disk`` AND the client access point ``options.client_access_point``
    (§6.1.3 (4)), plus any ``dependencies`` of the request.
``msfc-extension.ps1`` (run on every node)
    the resource extension DLL registration of §6.1.1 (2) (``regsvr32`` and
    ``cluster /regext``); it only adds the property pages of the old administration
    tools, the script above does not need it.

The site database is a Windows path, ``options.site_directory``.
"""

import os

from ._rendered import REQUIRED, RenderedBackend, opt_windows_name, opt_windows_path, ps_quote

RESOURCE_TYPE = "JobCenterCluster"
DISPLAY_NAME = "NEC JobCenter Cluster Resource Type"
DLL = "JobCenterCluster.dll"
EXTENSION = "JobCenterClusterEx"


def _first_label(request):
    return request.site.split(".")[0]


def register_script(request, options):
    name, group = ps_quote(request.service_name), ps_quote(options["group"])
    providers = [options["disk"], options["client_access_point"]] + list(request.dependencies)
    lines = [
        "# JobCenter cluster resource of site %s (guide 6.1), made by cjc.cluster." % request.site,
        "# Run it on one node of the cluster as a cluster administrator, after the quorum is configured;",
        "# it can be run again (each step is skipped when done).",
        "$ErrorActionPreference = 'Stop'",
        "Import-Module FailoverClusters",
        "",
        "# 6.1.1 (1): the resource type (once per cluster)",
        "if (-not (Get-ClusterResourceType -Name %s -ErrorAction SilentlyContinue)) {" % ps_quote(RESOURCE_TYPE),
        "    Add-ClusterResourceType -Name %s -Dll %s -DisplayName %s"
        % (ps_quote(RESOURCE_TYPE), ps_quote(DLL), ps_quote(DISPLAY_NAME)),
        "}",
        "",
        "# 6.1.3 (2), (3): the resource in the service (group) that holds the client access point and the disk",
        "if (-not (Get-ClusterResource -Name %s -ErrorAction SilentlyContinue)) {" % name,
        "    Add-ClusterResource -Name %s -ResourceType %s -Group %s | Out-Null"
        % (name, ps_quote(RESOURCE_TYPE), group),
        "}",
        "",
        "# 6.1.3 (5): the site name and the site database",
        "Get-ClusterResource -Name %s | Set-ClusterParameter -Name 'SiteName' -Value %s"
        % (name, ps_quote(request.site)),
        "Get-ClusterResource -Name %s | Set-ClusterParameter -Name 'SiteDirectory' -Value %s"
        % (name, ps_quote(options["site_directory"])),
        "",
        "# 6.1.3 (4): the cluster disk AND the client access point (each Add- joins with AND)",
        "$expression = (Get-ClusterResourceDependency -Resource %s).DependencyExpression" % name,
    ]
    for provider in providers:
        lines += [
            "if (-not (\"$expression\".Contains(%s))) {" % ps_quote("[%s]" % provider),
            "    Add-ClusterResourceDependency -Resource %s -Provider %s | Out-Null" % (name, ps_quote(provider)),
            "}",
        ]
    lines += ["", "Get-ClusterResourceDependency -Resource %s" % name]
    return "\r\n".join(lines) + "\r\n"


def extension_script():
    return "\r\n".join([
        "# JobCenter cluster resource extension DLL (guide 6.1.1 (2)), made by cjc.cluster.",
        "# Run it on every node of the cluster. Only the property pages of the cluster administration",
        "# tools need it; the resource and its parameters work without it.",
        "$ErrorActionPreference = 'Stop'",
        "Set-Location (Join-Path $env:SystemRoot 'Cluster')",
        "& regsvr32.exe /s (Join-Path $env:SystemRoot %s)" % ps_quote("Cluster\\" + EXTENSION),
        "& cluster.exe /regext:%s" % EXTENSION,
    ]) + "\r\n"


class MsfcBackend(RenderedBackend):
    OPTIONS = {
        "site_directory": (opt_windows_path, REQUIRED),
        "disk": (opt_windows_name, REQUIRED),
        "client_access_point": (opt_windows_name, _first_label),
        "group": (opt_windows_name, _first_label),
    }

    def paths(self, request, options):
        return [os.path.join(request.config_dir, "%s-msfc.ps1" % request.service_name),
                os.path.join(request.config_dir, "msfc-extension.ps1")]

    def texts(self, request, current):
        return [register_script(request, current["options"]), extension_script()]

    def commands(self, request, current):
        register, extension = self.paths(request, current["options"])
        return [("on every node: powershell.exe -NoProfile -ExecutionPolicy Bypass -File %s"
                 % os.path.basename(extension), False),
                ("on one node: powershell.exe -NoProfile -ExecutionPolicy Bypass -File %s"
                 % os.path.basename(register), False)]

    def mode(self, path):
        return 0o644

    def settings(self, request, current):
        options = current["options"]
        return ["group %s (an empty service or application) holds the client access point %s (site name %s%s) and "
                "the cluster disk %s with %s (guide 6.1.2)"
                % (options["group"], options["client_access_point"], request.site,
                   ", address %s" % request.address if request.address else "", options["disk"],
                   options["site_directory"]),
                "by default the resource is restarted on the same node after a failure; set its failover policy "
                "as your operation needs (guide 6.1.3 note)"]

    def resources(self, request, current):
        options = current["options"]
        return {"resource": request.service_name, "resource_type": RESOURCE_TYPE, "group": options["group"],
                "depends_on": [options["disk"], options["client_access_point"]] + list(request.dependencies)}
