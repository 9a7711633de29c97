#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cjc.cluster maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cjc_cluster_service
short_description: Register a cjc site's start, stop and monitor with a cluster product
version_added: 0.1.0
description:
  - The product-neutral front end of step 9 of the build order. One set of options describes the service
    (the site, its database, its floating address, a name, how often to check it, what it depends on); a
    backend per I(product) turns it into that product's configuration.
  - C(pacemaker) configures a resource group I(service_name) holding C(<service_name>-ip)
    (C(ocf:heartbeat:IPaddr2) with I(address)) and C(<service_name>-site) (C(ocf:cjc:cjcsite), whose start is
    C(cjcpw), stop C(cjcpw -stop), monitor every I(monitor_interval) seconds, timeouts from the site's
    C(site.conf) read where the site DB is - on a node without it the timeouts in the CIB are kept and a new group
    is refused); each of I(dependencies) gets an order and a colocation constraint (with a promotable clone - start
    after promote, with its Promoted role), and the constraints of a dependency dropped from the list are deleted.
    It reads the CIB with C(cibadmin --query) and applies each plan as one version-checked patch (C(crm_diff),
    C(cibadmin --patch)) - nothing is applied over a configuration changed since the read. It refuses until the OCF
    agent C(ocf:cjc:cjcsite) is installed on the node (the engine installer puts it at
    C(/usr/lib/ocf/resource.d/cjc/cjcsite)). Only the members that differ are replaced (unaffected members are not
    restarted); after a change it waits until every member is Started on one node, unless the group is stopped,
    unmanaged or in maintenance (the operator's C(target-role), C(is-managed), C(maintenance) and an op's
    C(enabled) are kept). I(state=absent) stops the group, waits, then deletes its group and every reference to it
    (a C(cli-ban) too); a failure after the stop reports C(changed). Options (I(options)) - C(migration_threshold),
    C(failure_timeout) (group meta attributes), C(resource_stickiness) (default 100), C(ping_attribute) (a location
    rule - never where that node attribute is undefined or 0), C(ip_nic), C(filesystem) (C(device), C(directory),
    C(fstype), C(options) - an C(ocf:heartbeat:Filesystem) member C(<service_name>-fs) before the site), C(wait)
    (seconds, default 120, 0 = do not wait). See docs/pacemaker.md.
  - C(serviceguard), C(clusterpro), C(clusterpro_windows), C(suncluster), C(suncluster22) and C(msfc) write the
    guide's scripts and configuration (chapters 3 to 6) into I(config_dir), rendered from the request, only where
    the text differs; they run the product's own command (C(cmapplyconf), C(clpcfctrl), C(clresource)) only when
    it is on the node's PATH, else they return the exact C(commands) to run and the C(settings) to make in the
    product's tools. Details and every deviation from the guide's samples are in docs/products.md.
  - C(serviceguard) merges into the package control script I(options.control_file) (default
    C(<config_dir>/<service_name>.cntl)) between marker lines, the rest untouched - the service block
    C(SERVICE_NAME[i]), C(SERVICE_CMD[i]="/usr/lib/nqs/cluster/cjcpw <site> <db>"), C(SERVICE_RESTART[i]), or with
    I(options.monitored=false) C(cjcpw -c) in C(customer_defined_run_cmds) and C(cjcpw -stop) in
    C(customer_defined_halt_cmds); I(options.portkeeper) puts C(nqsportkpr <site>) first in the run commands.
    Other options - C(service_index), C(service_restart), C(package_config) (for C(cmcheckconf)/C(cmapplyconf) -P).
  - C(clusterpro) writes the exec resource's C(start.sh) and C(stop.sh) (C(CLP_EVENT) START/FAILOVER,
    C(CLP_DISK) SUCCESS); options C(monitored), C(portkeeper), C(failover_group) (recovery target of the PID
    monitor), C(push_dir) (C(clpcfctrl --push -l -x)).
  - C(clusterpro_windows) writes C(start.bat) and C(stop.bat) (C(ARMLOAD <watch_id> /M /U <admin>), C(ARMKILL
    <watch_id> /C) before C(cjcpw -stop)); options C(site_directory) (required, Windows path of the site database),
    C(admin) (required), C(install_dir), C(watch_id) (unique in the cluster), C(monitored). Rendered only.
  - C(suncluster) (3.2) writes C(<service_name>-suncluster.sh) with the C(clresourcegroup), C(clreslogicalhostname)
    and C(clresource) lines - LogicalHostname, HAStoragePlus and a C(SUNW.gds) resource with C(Start_command),
    C(Stop_command), C(Port_list) (the site's NQS and comagent ports), C(Resource_dependencies),
    C(Network_resources_used); options C(resource_group), C(logical_host), C(storage), C(netiflist),
    C(mount_points), C(nqs_port), C(comagent_port).
  - C(suncluster22) writes the C(pmfadm) C(start.sh) and C(stop.sh) of Sun Cluster 2.2 (option C(tag), the PMF tag).
  - C(msfc) writes C(<service_name>-msfc.ps1) (resource type, resource with C(SiteName) and C(SiteDirectory),
    dependent on the cluster disk AND the client access point) and C(msfc-extension.ps1); options
    C(site_directory) and C(disk) (required), C(client_access_point), C(group). Rendered only.
author:
  - cjc.cluster maintainers (@cjc-cluster)
extends_documentation_fragment:
  - cjc.cluster._attributes
  - cjc.cluster._root
attributes:
  diff_mode:
    details: The diff is the product configuration of the service before and after (for Pacemaker, CIB XML).
options:
  product:
    description:
      - The cluster product.
    type: str
    required: true
    choices: [pacemaker, serviceguard, clusterpro, clusterpro_windows, suncluster, suncluster22, msfc]
  site:
    description:
      - Site name (canonical name of the relocatable address).
    type: str
    required: true
  db_path:
    description:
      - Site database path on the shared disk.
    type: path
    required: true
  address:
    description:
      - The floating (relocatable) IPv4 address, optionally with a prefix length (C(192.168.1.100/24)).
      - When given, the service owns the address (for Pacemaker, an C(IPaddr2) resource in the group).
    type: str
  service_name:
    description:
      - The product's name of the service (resource group, package, exec resource, resource).
      - Default C(cjc-<first label of site>).
    type: str
  monitor_interval:
    description:
      - Seconds between two health checks of the site (1 to 3600).
    type: int
    default: 10
  dependencies:
    description:
      - Names of the product's objects that must be running before the service, on the same node (for
        example the file system resource of the shared disk).
    type: list
    elements: str
    default: []
  state:
    description:
      - Whether the service is registered.
    type: str
    choices: [present, absent]
    default: present
  options:
    description:
      - Product-specific settings; each backend documents and checks its own.
    type: dict
    default: {}
  config_dir:
    description:
      - Directory where backends that render files (scripts, package configuration) write them.
    type: path
notes:
  - Run it on one node of the cluster (C(run_once)); the product distributes its configuration.
seealso:
  - module: cjc.cluster.cjc_site
"""

EXAMPLES = r"""
- name: Register the site with Pacemaker (step 9)
  cjc.cluster.cjc_cluster_service:
    product: pacemaker
    site: jobsite.example.com
    db_path: /mnt/jobdb
    address: 192.168.1.100/24
    dependencies: [jobdb-fs]
  run_once: true

- name: Remove the service
  cjc.cluster.cjc_cluster_service:
    product: pacemaker
    site: jobsite.example.com
    db_path: /mnt/jobdb
    dependencies: [jobdb-fs]
    state: absent
  run_once: true
"""

RETURN = r"""
product:
  description: The cluster product.
  returned: success
  type: str
  sample: pacemaker
service_name:
  description: The product's name of the service.
  returned: success
  type: str
  sample: cjc-jobsite
records:
  description: One typed record per planned change (the same shape from every cjc module; the role's drift report reads it).
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: The sort of change, V(cluster_service).
      type: str
    item:
      description: The product and the file, resource or service, as C(<product> <path or id>).
      type: str
    before:
      description: Its value before; V(null) when it does not exist.
      type: raw
    after:
      description: Its value after (predicted in check mode); V(null) when it will not exist.
      type: raw
  sample: [{"kind": "cluster_service", "item": "pacemaker cjc-site", "before": null, "after": "present"}]
actions:
  description: What the run did (check mode, would do), with the commands as argv lists.
  returned: success
  type: list
  elements: dict
  sample: [{"action": "create", "argv": ["cibadmin", "--create", "--scope", "resources", "--xml-text", "<group/>"]}]
resources:
  description: The product objects of the service (for Pacemaker, the ids of the group and its members).
  returned: success
  type: dict
  sample: {"group": "cjc-jobsite", "site": "cjc-jobsite-site", "ip": "cjc-jobsite-ip"}
files:
  description: The files a rendering backend manages in I(config_dir) (empty for Pacemaker).
  returned: success
  type: list
  elements: str
  sample: ["/etc/clusterpro/scripts/failover/jcservice/start.sh", "/etc/clusterpro/scripts/failover/jcservice/stop.sh"]
commands:
  description: The product's command lines for this service, in order; run by the module only when the product's
    command is on the node (see I(actions)), else for the operator to run.
  returned: success
  type: list
  elements: str
  sample: ["clpcfctrl --push -l"]
settings:
  description: What the operator sets in the product's own tools (the guide's dialog settings).
  returned: success
  type: list
  elements: str
  sample: ["exec resource jcservice - start script start.sh, Start Script - Asynchronous"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cjc.cluster.plugins.module_utils._cjc_module import CjcError, fail_from, runner
from ansible_collections.cjc.cluster.plugins.module_utils.cjc.plan import changes, products


def argument_spec():
    return dict(
        product=dict(type="str", required=True, choices=list(products.PRODUCTS)),
        site=dict(type="str", required=True),
        db_path=dict(type="path", required=True),
        address=dict(type="str"),
        service_name=dict(type="str"),
        monitor_interval=dict(type="int", default=10),
        dependencies=dict(type="list", elements="str", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        options=dict(type="dict", default={}),
        root=dict(type="path", default="/"),
        config_dir=dict(type="path"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run = runner(module)
    try:
        request = products.make_request(**module.params)
        plan = products.plan_service(request, run)
        if plan.changed and not module.check_mode:
            products.apply_service(plan, run)
    except CjcError as err:
        fail_from(module, err)
    for warning in plan.warnings:
        module.warn(warning)
    module.exit_json(changed=plan.changed, product=request.product, service_name=request.service_name,
                     actions=plan.actions, records=changes.service_changes(request.product, request.service_name, plan.actions),
                     resources=plan.result.get("resources", {}),
                     files=plan.result.get("files", []), commands=plan.result.get("commands", []),
                     settings=plan.result.get("settings", []), diff=dict(before=plan.before, after=plan.after))


if __name__ == "__main__":
    main()
