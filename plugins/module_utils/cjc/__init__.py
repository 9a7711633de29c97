"""The cjc engine: the runtime of a JobCenter-model cluster site.

This package imports nothing from Ansible and only relative imports inside, so the
very same code ships inside AnsiballZ modules (as
``ansible_collections.cjc.cluster.plugins.module_utils.cjc``) and is installed on
the nodes as the top-level package ``cjc`` behind the commands and daemons.

Layers, lowest first; a module imports only from its own layer and those below
(``.importlinter`` checks it; docs/engine.md has the whole map):

  errors       one error family
  config/      paths under the root prefix; the documented files and their rules
  site/        what a site is, where it lives, who owns it, what runs for it
  supervise/   start, watch and stop the daemons (cjcpw)
  jobs/        the site database and the life of a job
  net/         frames, the site-to-site protocol, the local client, the port hand-over
  daemons/     nqsdaemon, netdaemon, logdaemon, comagent
  ocf/         the OCF resource agent
  plan/        what the Ansible modules ask: read, plan, apply
  cli/         one ``main(argv=None)`` per command
"""

ENGINE_VERSION = "0.1.0"
