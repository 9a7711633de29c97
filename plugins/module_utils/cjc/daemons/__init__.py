"""The site daemons: one module each, ``main(argv=None)``, invoked as
``<name> --root ROOT --site local|DB-PATH`` (installed at ``/usr/lib/nqs/<name>``).

Shared rules (STYLE.md, Daemons): signal handlers only record, the main loop
acts; a daemon writes its pid record ``<spool>/run/<name>.pid`` only once it fully
serves, and removes it when it stops.
"""

import argparse
import os
import selectors
import signal
import sys

from ..errors import UsageError
from ..config.layout import layout_from
from ..site.cgroup import SiteGroup
from ..site.processes import SPOOL_ENV
from ..site.registry import open_site

_BOOT = "import sys; sys.path.insert(0, %r); from %s.daemons.%s import main; sys.exit(main())"


class DaemonArgs(argparse.ArgumentParser):
    """``--root`` and ``--site`` of every daemon; errors raise UsageError."""

    def __init__(self, prog, description):
        super().__init__(prog=prog, description=description)
        self.add_argument("--root", metavar="DIR", help="root prefix of the node's files (default: $CJC_ROOT or /)")
        self.add_argument("--site", required=True, metavar="SPEC",
                          help="'local' or the DB path of a cluster site")

    def error(self, message):
        raise UsageError("%s\n%s" % (message, self.format_usage().strip()))

    def parse_site(self, argv=None):
        """Parse ``argv`` (default ``sys.argv[1:]``), open the site it names and mark this
        process as the site's (:func:`ensure_marked`, which may re-exec it); a daemon
        started alone (not by cjcpw) enters the site's control group itself.

        Returns ``(args, layout, site)``; raises UsageError or the CjcError of ``open_site``.
        """
        args = self.parse_args(sys.argv[1:] if argv is None else argv)
        layout = layout_from(args.root)
        site = open_site(layout, args.site)
        ensure_marked(site.spool)
        group = SiteGroup(site.spool)
        if group.tracked and not group.contains(os.getpid()):
            group.enter()
        return args, layout, site


class SignalReceiver:
    """Signals recorded for a daemon's main loop: handlers only record, the loop acts.

    Installs a handler that appends the signal number to ``pending`` for each of
    ``signals``, ignores SIGHUP (the site outlives the terminal it was started from), and
    registers the read end of a wakeup pipe with ``selector`` under ``data``, so that a
    signal ends the select at once; call :meth:`drain` when the selector reports ``data``.
    Process-wide: construct it in the main thread, once.
    """

    def __init__(self, selector, signals=(signal.SIGTERM, signal.SIGINT), data="signal"):
        self.pending = []
        self.fd, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in signals:
            signal.signal(signum, self._record)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        selector.register(self.fd, selectors.EVENT_READ, data)

    def _record(self, signum, _frame):
        self.pending.append(signum)

    def drain(self):
        """Empty the wakeup pipe (its bytes only wake the select; ``pending`` says which signals)."""
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass


def daemon_command(layout, name, site_spec):
    """argv that starts daemon ``name`` of a site: its installed wrapper, else this very package."""
    args = ["--root", layout.root, "--site", site_spec]
    wrapper = layout.path("/usr/lib/nqs/" + name)
    if os.path.isfile(wrapper):
        return [sys.executable, wrapper] + args
    package = __name__.rsplit(".", 1)[0]              # "cjc" or "ansible_collections....cjc"
    base = os.path.dirname(os.path.abspath(__file__))
    for _ in package.split("."):
        base = os.path.dirname(base)                   # the directory holding the top package
    return [sys.executable, "-c", _BOOT % (base, package, name)] + args


def site_environment(spool, environ=None):
    """The environment for a process of the site with ``spool``: marked with CJC_SITE_SPOOL."""
    env = dict(os.environ if environ is None else environ)
    env[SPOOL_ENV] = spool
    return env


def ensure_marked(spool):
    """Re-exec this daemon with CJC_SITE_SPOOL set when it was started without it.

    The mark must be in the process's own environment block (what /proc shows and the
    fallback scan of site/cgroup.py searches), which assigning ``os.environ`` does not change.
    """
    if os.environ.get(SPOOL_ENV) == spool:
        return
    script = sys.argv[0] if sys.argv and sys.argv[0] and os.path.isfile(sys.argv[0]) else None
    if script is None:
        os.environ[SPOOL_ENV] = spool  # started in an unusual way: mark at least the children
        return
    os.execve(sys.executable, [sys.executable, script] + sys.argv[1:], site_environment(spool))
