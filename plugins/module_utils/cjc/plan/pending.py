"""Check mode before the first build: plan as if the run's earlier tasks had made their part.

A check run of the build (``site.yml --check``) on a node where nothing is installed yet
cannot read what a real run would have made by the time a later task runs: the engine
(its directories, the local site's identity), the site address moved to the active node
by the resource hook, the site DB made by ``cjcmksite``. A plan given one of these
*assumptions* plans against the node as the earlier task leaves it, and records each
check it could not make as *pending*: only the real run proves it (docs/check-mode.md).

A real run never assumes: the modules pass assumptions in check mode only, so a node
that really lacks the engine, the address or the DB fails with the usual message.
"""

from ..errors import ConfigError

ENGINE, ADDRESS, SITE_DB = "engine", "address", "site_db"
ASSUMPTIONS = (ENGINE, ADDRESS, SITE_DB)


class Assumed:
    """The assumptions one plan may make, and the pending checks it made with them."""

    def __init__(self, names=()):
        unknown = sorted(set(names or ()) - set(ASSUMPTIONS))
        if unknown:
            raise ConfigError("cannot assume %s; the assumptions are %s" % (", ".join(unknown), ", ".join(ASSUMPTIONS)))
        self.names = frozenset(names or ())
        self.used = set()
        self.pending = []

    def covers(self, name, pending):
        """Whether ``name`` is assumed; if so the text ``pending`` is recorded as unproven."""
        if name not in self.names:
            return False
        self.used.add(name)
        if pending not in self.pending:
            self.pending.append(pending)
        return True
