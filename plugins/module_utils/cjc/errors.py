"""One error family for the whole engine.

Commands turn a ``CjcError`` into one stderr line and its ``exit_status``; the
Ansible modules turn it into ``fail_json(msg=...)``. Anything else escaping is a
bug and shows as a traceback.
"""


class CjcError(Exception):
    """An error the user can act on. ``str(err)`` is the whole message."""

    exit_status = 1


class UsageError(CjcError):
    """Bad command-line arguments."""

    exit_status = 2


class ConfigError(CjcError):
    """A configuration file or value is wrong."""


class NameCheckError(CjcError):
    """The site name, its address or this host's interfaces do not fit (§2.3)."""


class SiteError(CjcError):
    """A site is missing, already exists, or is in the wrong state."""


class NqsFatal(CjcError):
    """A user command's fatal error, printed NQS-style: ``Qstat(FATAL): <msg>``."""


class NqsError(CjcError):
    """A request the site refuses (no such queue, not allowed, ...)."""


class CommandError(CjcError):
    """A command run by the engine failed; keeps its argv, rc, stdout and stderr."""

    def __init__(self, message, argv=None, rc=None, stdout="", stderr=""):
        super().__init__(message)
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr


class EngineMismatch(CjcError):
    """The installed engine package is not the one expected (``cjc-install --expect``)."""

    exit_status = 3


class InstallError(CjcError):
    """The engine package to install is missing or not a package of this engine."""
