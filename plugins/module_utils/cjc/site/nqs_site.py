"""NQS_SITE: which site a user command acts on (guide §2.5.2).

Unset, empty or equal to this host's name -> the local site. Otherwise the cluster
site of that name registered on this node (also found through the address the
name resolves to). Anything else is the documented fatal error, with the
command's own name in front: ``Qstat(FATAL): Unable to setup NQS rootdir``.
"""

import os
import socket

from ..errors import NqsFatal
from .registry import Registry, local_site

ENV = "NQS_SITE"


def nqs_command_name(command):
    """``qstat`` -> ``Qstat``: how NQS commands name themselves in messages."""
    return command[:1].upper() + command[1:]


def resolve_nqs_site(layout, command, environ=None):
    """The Site a user command acts on, or NqsFatal (exit status 1)."""
    environ = os.environ if environ is None else environ
    wanted = environ.get(ENV, "")
    # getfqdn() asks the resolver (slow without DNS): only when the short name does not match;
    # the local site reads no cluster site's files (a user command does no work it does not use)
    if not wanted or wanted == socket.gethostname() or wanted == socket.getfqdn():
        site = local_site(layout)
    else:
        site = Registry(layout).find(wanted)
    if site is None or not site.available:
        raise NqsFatal("%s(FATAL): Unable to setup NQS rootdir" % nqs_command_name(command))
    return site
