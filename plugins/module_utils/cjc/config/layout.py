"""Where everything lives: every documented absolute path under one root prefix.

docs/engine.md: the install layout is fixed (``/usr/lib/nqs``, ``/usr/spool/nqs``, ...),
but every path resolves under a root prefix (default ``/``) so several "nodes" can
live on one machine and tests never write to the real ``/usr``. The prefix comes
from ``--root DIR``, else the ``CJC_ROOT`` environment variable, else ``/``.

Cluster-site DB paths given by the operator (``/mnt/jobdb``) are *not* prefixed:
they name the shared disk as the node sees it.
"""

import os

ROOT_ENV = "CJC_ROOT"

NQS_LIB = "/usr/lib/nqs"
CLUSTER_BIN = "/usr/lib/nqs/cluster"
COMMON_DAEMON_CONF = "/usr/lib/nqs/rc/daemon.conf"
LOCAL_DAEMON_CONF = "/usr/lib/nqs/daemon.conf"
LOCAL_SITE_CONF = "/usr/lib/nqs/etc/site.conf"
# the cluster's shared key for credentials between sites (net/credential.py): root only, mode 0400
CLUSTER_KEY = "/usr/lib/nqs/etc/cluster.key"
ENGINE_LIB = "/usr/lib/nqs/lib"
SPOOL = "/usr/spool/nqs"
USER_BIN = "/usr/bin"

# The engine's commands at their documented paths (guide §2.1.4, §2.5.3, §2.5.5, §3.1.3).
CJCPW = CLUSTER_BIN + "/cjcpw"
CJCMKSITE = CLUSTER_BIN + "/cjcmksite"
CJCLS = CLUSTER_BIN + "/cjcls"
NQSSTART = NQS_LIB + "/nqsstart"
NQSSTOP = NQS_LIB + "/nqsstop"
NQSPORTKPR = NQS_LIB + "/nqsportkpr"

#: the locale every engine command runs in when its output is read (messages in English,
#: stable number formats)
C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


class Layout:
    """The documented paths of one node, resolved under ``root``."""

    def __init__(self, root="/"):
        if not root or not os.path.isabs(root):
            raise ValueError("root prefix must be an absolute path, got %r" % (root,))
        self.root = os.path.normpath(root)

    def path(self, documented):
        """``/usr/lib/nqs/x`` -> ``<root>/usr/lib/nqs/x``."""
        return os.path.join(self.root, documented.lstrip("/"))

    def unprefixed(self, real_path):
        """The documented form of a path under the root (for messages and listings)."""
        if self.root == "/":
            return real_path
        rel = os.path.relpath(real_path, self.root)
        return real_path if rel.startswith("..") else "/" + rel

    nqs_lib = property(lambda self: self.path(NQS_LIB))
    cluster_bin = property(lambda self: self.path(CLUSTER_BIN))
    common_daemon_conf = property(lambda self: self.path(COMMON_DAEMON_CONF))
    local_daemon_conf = property(lambda self: self.path(LOCAL_DAEMON_CONF))
    local_site_conf = property(lambda self: self.path(LOCAL_SITE_CONF))
    cluster_key = property(lambda self: self.path(CLUSTER_KEY))
    engine_lib = property(lambda self: self.path(ENGINE_LIB))
    spool = property(lambda self: self.path(SPOOL))
    user_bin = property(lambda self: self.path(USER_BIN))

    def command_environ(self):
        """Environment for running an engine command on this layout: the C locale, and the
        root prefix when it is not ``/`` (a lab node)."""
        environ = dict(C_LOCALE)
        if self.root != "/":
            environ[ROOT_ENV] = self.root
        return environ

    def __repr__(self):
        return "Layout(%r)" % self.root


def layout_from(root_option=None, environ=None):
    """The layout chosen by ``--root``, else ``$CJC_ROOT``, else ``/``."""
    environ = os.environ if environ is None else environ
    root = root_option or environ.get(ROOT_ENV) or "/"
    return Layout(os.path.abspath(root))
