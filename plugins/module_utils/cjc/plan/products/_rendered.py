"""Private: the shared read/plan/apply of the backends that render files (guide §3-§6).

Serviceguard, CLUSTERPRO, Sun Cluster and MSFC cannot run on our machines: their
backends write the guide's scripts and configuration into ``config_dir`` and name
the product commands that register them. A backend subclass says

* ``paths(request, options)``: the files it manages (known without reading); by default
  the names ``FILES`` in ``config_dir``;
* ``texts(request, current)``: pure, the wanted text of each of ``paths``, in order;
  :meth:`RenderedBackend.render` makes of them ``{path: wanted text or None}`` (None: must
  not exist; every file when the service is absent). A backend that edits a file of the
  product instead (Serviceguard's control script) overrides ``render``;
* ``commands(request, current)``: the product's command lines, each
  ``(argv, runnable)``; ``runnable`` ones are run by :meth:`apply` when the product
  CLI (``cli``) is on this node's PATH and something changed, the others are only
  returned for the operator;
* ``settings(request, current)``: what the operator sets in the product's own tools;
* ``resources(request, current)``: the names of the product objects.

Every value that goes into a generated script is validated first (site and DB path
by ``make_request``, the rest here) *and* quoted for its language (``sh_quote``,
``bat_quote``, ``ps_quote``): nothing a user passes can become code.

Idempotent by content: a file is written (atomically, ``fileio.write_atomic``) only
when its text differs; a second plan of the same request has no action.
"""

import os
import re
import shlex
import shutil

from ...config.daemonconf import COMAGENT_PORT_DEFAULT, NQS_PORT_DEFAULT, SITE, load_daemon_conf
from ...errors import CommandError, ConfigError
from ...config.fileio import read_text, write_atomic
from ...config.layout import C_LOCALE, CJCPW, NQSPORTKPR, Layout
from ...site.registry import cluster_site
from . import ABSENT, ServicePlan


_SAFE_ROOT = re.compile(r"^/[A-Za-z0-9._+/-]*$")
# Windows: drive, backslash, then letters, digits, space and . _ + - ( ); no quote, %, ^, &, |, <, >, !
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\(?:[A-Za-z0-9 ._+()-]+\\?)*$")
_WINDOWS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,62}$")
_ACCOUNT = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,14}\\)?[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")


def sh_quote(value):
    """One shell word (POSIX sh): unchanged when it needs no quoting, else single-quoted."""
    return shlex.quote(str(value))


def sh_line(argv):
    return " ".join(sh_quote(a) for a in argv)


def sh_double_quoted(text):
    """``text`` inside double quotes, with the four characters special there escaped."""
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def bat_quote(value):
    """A batch-file argument in double quotes; the value was validated to hold no ``"`` or ``%``."""
    if re.search(r'["%^&|<>!\r\n]', value):
        raise ConfigError("%r cannot be put in a batch file safely" % (value,))
    return '"%s"' % value


def ps_quote(value):
    """A PowerShell single-quoted string (``'`` doubled)."""
    return "'%s'" % str(value).replace("'", "''")


def engine_argv(request, documented, *args):
    """argv of an engine command at the node's root: the documented path under ``request.root``,
    with ``--root`` when that is not ``/`` (the installed commands read their root from it)."""
    layout = Layout(request.root)
    argv = [layout.path(documented)]
    if layout.root != "/":
        argv += ["--root", layout.root]
    return argv + [str(a) for a in args]


def start_argv(request, monitored):
    """``cjcpw <site> <db>`` (monitored, foreground) or ``cjcpw -c <site> <db>`` (detached)."""
    return engine_argv(request, CJCPW, *([] if monitored else ["-c"]) + [request.site, request.db_path])


def stop_argv(request):
    return engine_argv(request, CJCPW, "-stop", request.site)


def portkeeper_argv(request):
    return engine_argv(request, NQSPORTKPR, request.site)


# -- options ----------------------------------------------------------------------------------

def opt_bool(name, value):
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("yes", "true", "1", "on"):
        return True
    if str(value).lower() in ("no", "false", "0", "off"):
        return False
    raise ConfigError("option %s=%r is not a boolean (true or false)" % (name, value))


def opt_port(name, value):
    if not str(value).isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigError("option %s=%r is not a TCP port number (1-65535)" % (name, value))
    return int(value)


def opt_abspath(name, value):
    value = str(value)
    if not _SAFE_ROOT.match(value) or "/../" in value + "/":
        raise ConfigError("option %s=%r is not allowed: an absolute path made of letters, digits and "
                          ". _ + - /" % (name, value))
    return os.path.normpath(value)


def opt_match(pattern, what):
    compiled = re.compile(pattern)

    def check(name, value):
        if not isinstance(value, str) or not compiled.match(value):
            raise ConfigError("option %s=%r is not valid: %s" % (name, value, what))
        return value
    return check


opt_name = opt_match(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$",
                     "start with a letter, then letters, digits, '_', '.', '-' (at most 63)")


def opt_windows_path(name, value):
    if not isinstance(value, str) or not _WINDOWS_PATH.match(value):
        raise ConfigError("option %s=%r is not valid: a Windows path like X:\\Jobdb (drive, backslash, then "
                          "letters, digits, space and . _ + - ( ) only)" % (name, value))
    return value.rstrip("\\") if len(value) > 3 else value


def opt_windows_name(name, value):
    if not isinstance(value, str) or not _WINDOWS_NAME.match(value):
        raise ConfigError("option %s=%r is not valid: a cluster object name of letters, digits, space and "
                          ". _ - ( ) (at most 63)" % (name, value))
    return value


def opt_account(name, value):
    if not isinstance(value, str) or not _ACCOUNT.match(value):
        raise ConfigError("option %s=%r is not valid: a Windows account name like Job-Admin or DOMAIN\\Job-Admin "
                          "(letters, digits, '.', '_', '-')" % (name, value))
    return value


REQUIRED = object()


def check_options(request, spec):
    """The request's ``options`` checked against ``spec`` ({name: (check, default)}), defaults filled.

    Unknown names are refused (a typo must not silently fall back to a default).
    """
    given = dict(request.options or {})
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ConfigError("cluster product %s has no option %s; its options are: %s"
                          % (request.product, ", ".join(unknown), ", ".join(sorted(spec))))
    checked = {}
    for name, (check, default) in spec.items():
        if given.get(name) is None:
            if default is REQUIRED:
                raise ConfigError("cluster product %s needs options.%s" % (request.product, name))
            checked[name] = default(request) if callable(default) else default
        else:
            checked[name] = check(name, given[name])
    return checked


def check_request_paths(request):
    """``config_dir`` is required; ``root`` must be a plain path (both end up in scripts)."""
    if not request.config_dir:
        raise ConfigError("cluster product %s renders files: give config_dir (the directory to write them to)"
                          % request.product)
    opt_abspath("config_dir", request.config_dir)
    if not _SAFE_ROOT.match(request.root or "/"):
        raise ConfigError("root %r is not allowed in generated scripts: an absolute path made of letters, "
                          "digits and . _ + - /" % (request.root,))


def site_ports(request, options):
    """(nqs_port, comagent_port): options, else the site's daemon.conf when readable, else 607/611."""
    settings = {}
    conf = cluster_site(request.db_path).daemon_conf
    if os.path.isfile(conf):
        settings, _diagnostics = load_daemon_conf(conf, SITE)
    nqs = options.get("nqs_port") or int(settings.get("nqs_port", NQS_PORT_DEFAULT))
    comagent = options.get("comagent_port") or int(settings.get("comagent_port", COMAGENT_PORT_DEFAULT))
    return nqs, comagent


# -- the backend --------------------------------------------------------------------------------

class RenderedBackend:
    """Base of the rendering backends; see the module docstring for what a subclass provides."""

    implemented = True
    cli = None          # the product command whose presence on PATH means "run the commands here"
    OPTIONS = {}
    ENCODING = "utf-8"
    OWN_MODES = True    # the files are wholly ours: their mode is kept as :meth:`mode` says
    FILES = ()          # the default paths(): these names in config_dir

    def options(self, request):
        check_request_paths(request)
        return check_options(request, self.OPTIONS)

    def read_more(self, request, options, run, cli):
        """Extra reading of a subclass (product objects, sibling files); a dict."""
        return {}

    def paths(self, request, options):
        """The files this backend manages, in the order of :meth:`texts`."""
        return [os.path.join(request.config_dir, name) for name in self.FILES]

    def render(self, request, current):
        """``{path: wanted text or None}``; pure. Absent: none of the files may exist."""
        paths = self.paths(request, current["options"])
        if request.state == ABSENT:
            return dict.fromkeys(paths)
        return dict(zip(paths, self.texts(request, current)))

    def texts(self, request, current):
        """The wanted text of each of :meth:`paths`, in order (the service present); pure."""
        raise NotImplementedError

    def read(self, request, run):
        """{"options", "files": {path: text or None}, "cli": path or None, ...}; reads only."""
        options = self.options(request)
        files, modes = {}, {}
        for path in self.paths(request, options):
            files[path] = _read(path, self.ENCODING)
            if files[path] is not None:
                modes[path] = os.stat(path).st_mode & 0o7777
        cli = shutil.which(self.cli) if self.cli else None
        current = {"options": options, "files": files, "modes": modes, "cli": cli}
        current.update(self.read_more(request, options, run, cli))
        return current

    def pending(self, request, current):
        """Whether the product still needs its commands although every file is as wanted."""
        return False

    def plan(self, request, current):
        wanted = self.render(request, current)
        actions, before, after, content = [], [], [], {}
        for path, text in wanted.items():
            old = current["files"].get(path)
            if old is not None:
                before.append("# %s\n%s" % (path, old))
            if text is not None:
                after.append("# %s\n%s" % (path, text))
            if text is None and old is not None:
                actions.append({"action": "delete", "path": path})
            elif text is not None and text != old:
                actions.append({"action": "create" if old is None else "update", "path": path,
                                "mode": "0%o" % self.mode(path)})
                content[path] = text
            elif text is not None and self.OWN_MODES and current["modes"].get(path) != self.mode(path):
                actions.append({"action": "chmod", "path": path, "mode": "0%o" % self.mode(path)})
        commands = [] if request.state == ABSENT else self.commands(request, current)
        if current["cli"] and (actions or self.pending(request, current)):
            actions += [{"action": "run", "argv": argv} for argv, runnable in commands if runnable]
        result = {
            "resources": self.resources(request, current),
            "files": sorted(p for p, t in wanted.items() if t is not None),
            "commands": [argv if isinstance(argv, str) else sh_line(argv) for argv, _runnable in commands],
            "settings": [] if request.state == ABSENT else self.settings(request, current),
            "_content": content,
        }
        return ServicePlan(request, bool(actions), actions, "".join(before), "".join(after), result, [])

    def mode(self, path):
        return 0o755 if path.endswith(".sh") else 0o644

    def apply(self, plan, run):
        """Write/delete the files, then run the product commands; raises CommandError on a failed one."""
        for action in plan.actions:
            if action["action"] in ("create", "update"):
                path = action["path"]
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_atomic(path, plan.result["_content"][path].encode(self.ENCODING), int(action["mode"], 8))
                if self.OWN_MODES:
                    os.chmod(path, int(action["mode"], 8))  # write_atomic keeps an existing file's mode
            elif action["action"] == "chmod":
                os.chmod(action["path"], int(action["mode"], 8))
            elif action["action"] == "delete":
                try:
                    os.unlink(action["path"])
                except FileNotFoundError:
                    pass
            elif action["action"] == "run":
                argv = action["argv"]
                rc, out, err = run(argv, C_LOCALE)
                if rc != 0:
                    raise CommandError("%s failed (rc=%d): %s; the files are written, run the remaining "
                                       "commands by hand once fixed" % (sh_line(argv), rc, (err or out).strip()),
                                       argv=argv, rc=rc, stdout=out, stderr=err)


def _read(path, encoding):
    if encoding == "utf-8":
        return read_text(path)
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(encoding, errors="replace")
    except FileNotFoundError:
        return None
