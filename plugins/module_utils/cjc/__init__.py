"""The cjc engine: the runtime of a JobCenter-model cluster site.

This package imports nothing from Ansible and only relative imports inside, so the
very same code ships inside AnsiballZ modules (as
``ansible_collections.cjc.cluster.plugins.module_utils.cjc``) and is installed on
the nodes as the top-level package ``cjc`` behind the commands and daemons.

Layers, lowest first (imports only flow upwards):
  errors, layout, keyvalue      paths under the root prefix, key=value files
  siteconf, daemonconf          the two documented configuration files
  netnames                      site name / address checks
  sites, runstate               site records, the link registry, pid records
  mksite, nqssite               cjcmksite and NQS_SITE resolution
  cli/                          one module per command, ``main(argv=None)``
"""

ENGINE_VERSION = "0.1.0"
