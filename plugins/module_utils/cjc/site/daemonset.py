"""The daemons of a site, as data: what the supervisor starts, in which order, and
which pid records tell that each one serves (guide §2.1.4).

``netdaemon`` is started by ``nqsdaemon`` (its parent, as in the guide), so it is
not spawned here; its record is part of nqsdaemon's readiness and liveness.
Job-network daemons (jnwengine, sclaunchd, jnwcaster) join this list when they
exist; none is started before it has a real job to do.
"""

import collections

DaemonSpec = collections.namedtuple("DaemonSpec", "name command records")

SITE_DAEMONS = (
    DaemonSpec("logdaemon", "/usr/lib/nqs/logdaemon", ("logdaemon.pid",)),
    DaemonSpec("nqsdaemon", "/usr/lib/nqs/nqsdaemon", ("nqsdaemon.pid", "netdaemon.pid")),
    DaemonSpec("comagent", "/usr/lib/nqs/combase/comagent", ("comagent.pid",)),
)


def site_argument(site):
    """What a daemon's ``--site`` gets: ``local`` or the cluster DB path."""
    return "local" if site.is_local else site.db_path


def daemon_argv(layout, spec, site):
    return [layout.path(spec.command), "--root", layout.root, "--site", site_argument(site)]
