"""``daemon.conf``: the common file and the per-site files (guide §2.3(5), §2.5.5).

* common ``/usr/lib/nqs/rc/daemon.conf``: ``local_daemon=SITE|OFF``, ``maintenance=ON|OFF``;
* local site ``/usr/lib/nqs/daemon.conf`` and cluster site ``<db>/nqs/daemon.conf``:
  ``ipaddress=<IPv4>`` (for a cluster site: the relocatable address), the ports, and
  ``job_output_limit=<bytes>`` (per job and stream, default 1 MiB), and the retention of
  finished work, ``history_retention=<N>s|m|h|d|OFF`` (default 7d) and
  ``history_export=ON|OFF`` (docs/job-engine.md "Retention").

Unknown keys are kept untouched on edit and reported (the real product knows many
more keys; this engine does not act on them).
"""

import ipaddress

from ..errors import ConfigError
from .keyvalue import Diagnostic, KeyValueFile

COMMON, SITE = "common", "site"

NQS_PORT_DEFAULT = 607
COMAGENT_PORT_DEFAULT = 611
JOB_OUTPUT_LIMIT_DEFAULT = 1024 * 1024
JOB_OUTPUT_LIMIT_RANGE = (4096, 64 * 1024 * 1024)  # the tracker of a run must fit in replies (net/wire.py)
# How long finished work is kept: a site setting for every kind of history (requests and their
# trackers here; job-network trackers apply the same). OFF keeps it forever.
HISTORY_RETENTION_DEFAULT = "7d"
HISTORY_RETENTION_MIN = 3600  # a re-send of a routed request finds its first copy (docs/job-engine.md)
HISTORY_RETENTION_MAX = 100 * 365 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _choice(*allowed):
    def check(key, value):
        if value not in allowed:
            raise ConfigError("%s=%s is not valid: use %s" % (key, value, " or ".join(allowed)))
        return value
    return check


def _ipv4(key, value):
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ConfigError("%s=%s is not an IPv4 address (like 192.168.1.100)" % (key, value))


def _port(key, value):
    if not str(value).isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigError("%s=%s is not a TCP port number (1-65535)" % (key, value))
    return str(int(value))


def _output_limit(key, value):
    low, high = JOB_OUTPUT_LIMIT_RANGE
    if not str(value).isdigit() or not low <= int(value) <= high:
        raise ConfigError("%s=%s is not valid: a number of bytes from %d to %d" % (key, value, low, high))
    return str(int(value))


def _retention(key, value):
    if value == "OFF":
        return value
    number, unit = value[:-1], value[-1:]
    seconds = int(number) * _UNITS[unit] if number.isdigit() and unit in _UNITS else None
    if seconds is None or not HISTORY_RETENTION_MIN <= seconds <= HISTORY_RETENTION_MAX:
        raise ConfigError("%s=%s is not valid: a time from 1h to 36500d, a number and its unit s, m, h or d "
                          "(like 7d or 12h), or OFF to keep finished work forever" % (key, value))
    return "%d%s" % (int(number), unit)


KEYS = {
    COMMON: {"local_daemon": _choice("SITE", "OFF"), "maintenance": _choice("ON", "OFF")},
    SITE: {"ipaddress": _ipv4, "nqs_port": _port, "comagent_port": _port, "job_output_limit": _output_limit,
           "history_retention": _retention, "history_export": _choice("ON", "OFF")},
}


def check_value(scope, key, value):
    """The normalised text of ``value`` for ``key`` in a ``scope`` file, or ConfigError."""
    checks = KEYS[scope]
    if key not in checks:
        raise ConfigError("%s daemon.conf has no key %r; known keys: %s"
                          % (scope, key, ", ".join(sorted(checks))))
    return checks[key](key, str(value))


def load_daemon_conf(path, scope):
    """(effective settings, [Diagnostic]) of one daemon.conf; bad values are reported and dropped."""
    conf = KeyValueFile.load(path)
    diagnostics = conf.diagnostics(known_keys=KEYS[scope])
    settings = {}
    for key, raw in conf.values().items():
        if key not in KEYS[scope]:
            continue
        try:
            settings[key] = check_value(scope, key, raw)
        except ConfigError as err:
            diagnostics.append(Diagnostic(path, conf.lineno(key), "%s (line ignored)" % err))
    return settings, diagnostics


def comagent_endpoints(site):
    """[(address, port)] the site's comagent listens on, loopback first.

    The site's ``ipaddress`` (else its address), and a loopback address of the
    site's own: ``127.<b>.<c>.<d>`` for site address ``a.b.c.d``, ``127.0.0.1`` for
    the local site, so several sites on one node never collide on loopback. The
    port is ``comagent_port`` (default 611). Kept here, in a light module, because
    the OCF agent's monitor starts a fresh interpreter each time.
    """
    settings, _diagnostics = load_daemon_conf(site.daemon_conf, SITE)
    port = int(settings.get("comagent_port", COMAGENT_PORT_DEFAULT))
    address = settings.get("ipaddress") or site.address
    if site.is_local or not address:
        loopback = "127.0.0.1"
    else:
        loopback = "127." + ".".join(str(ipaddress.IPv4Address(address)).split(".")[1:])
    found = [(loopback, port)]
    if address and (address, port) not in found:
        found.append((address, port))
    return found


def _site_settings(site):
    """The settings of ``site``'s daemon.conf; none when it cannot be read (netdaemon and
    comagent report its problems, and the defaults apply)."""
    try:
        return load_daemon_conf(site.daemon_conf, SITE)[0]
    except ConfigError:
        return {}


def job_output_limit(site):
    """Bytes of stdout and of stderr a job of ``site`` keeps (its ``job_output_limit``)."""
    return int(_site_settings(site).get("job_output_limit", JOB_OUTPUT_LIMIT_DEFAULT))


def history_retention(site):
    """(seconds finished work of ``site`` is kept, or None: forever; whether purged history is
    first exported): its ``history_retention`` and ``history_export``.

    One setting for all of a site's history: finished requests with their trackers, and any
    other tracker kept in the site database (docs/job-engine.md "Retention").
    """
    settings = _site_settings(site)
    value = settings.get("history_retention", HISTORY_RETENTION_DEFAULT)
    seconds = None if value == "OFF" else int(value[:-1]) * _UNITS[value[-1]]
    return seconds, settings.get("history_export", "OFF") == "ON"
