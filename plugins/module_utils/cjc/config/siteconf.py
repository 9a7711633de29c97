"""``site.conf``: the start/stop timing of a site (guide §2.1.5).

Local site: ``/usr/lib/nqs/etc/site.conf``; cluster site: ``<db>/etc/site.conf``.

Rules, exactly as documented:
  * missing file or key -> the default;
  * invalid value (negative, non-numeric) or below the minimum -> the minimum;
  * above the maximum (the C ``int`` maximum) -> the maximum (the guide is silent;
    we clamp into the documented range and say so);
  * ``STOP_TIMEOUT`` is the whole stop; its last ``FORCEKILL_TIME`` seconds are the
    forced phase; ``FORCEKILL_TIME >= STOP_TIMEOUT`` forces the stop from the
    start and it takes ``FORCEKILL_TIME``.
Every rule applied to a written value is reported as a diagnostic, never silently.
"""

import collections
import re

from ..errors import ConfigError
from .keyvalue import Diagnostic, KeyValueFile

INT_MAX = 2147483647

# key: (default, minimum, maximum) -- guide table 2-1
LIMITS = collections.OrderedDict([
    ("BOOT_TIMEOUT", (180, 30, INT_MAX)),
    ("STOP_TIMEOUT", (180, 30, INT_MAX)),
    ("FORCEKILL_TIME", (10, 1, INT_MAX)),
])

_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def effective_value(key, raw):
    """(value in seconds, problem or None) for the raw text of ``key`` (None = unset)."""
    default, low, high = LIMITS[key]
    if raw is None:
        return default, None
    if not _INTEGER.match(raw):
        return low, "%s=%s is not a number: the minimum %d is used" % (key, raw, low)
    number = int(raw)
    if number < 0:
        return low, "%s=%s is negative: the minimum %d is used" % (key, raw, low)
    if number < low:
        return low, "%s=%s is below the minimum: %d is used" % (key, raw, low)
    if number > high:
        return high, "%s=%s is above the maximum: %d is used" % (key, raw, high)
    return number, None


class SiteTimings(collections.namedtuple("SiteTimings", "boot_timeout stop_timeout forcekill_time")):
    """The effective timings of a site, in seconds."""

    @property
    def forced_from_start(self):
        return self.forcekill_time >= self.stop_timeout

    @property
    def orderly_seconds(self):
        """How long the orderly phase of a stop may last before SIGKILL."""
        return 0 if self.forced_from_start else self.stop_timeout - self.forcekill_time

    @property
    def total_stop_seconds(self):
        return self.forcekill_time if self.forced_from_start else self.stop_timeout

    @property
    def advised_start_timeout(self):
        """The cluster's start timeout for the site: BOOT_TIMEOUT plus :data:`TIMEOUT_MARGIN`."""
        return self.boot_timeout + TIMEOUT_MARGIN

    @property
    def advised_stop_timeout(self):
        """The cluster's stop timeout for the site: the whole stop bound plus :data:`TIMEOUT_MARGIN`."""
        return self.total_stop_seconds + TIMEOUT_MARGIN


#: seconds a cluster product's start/stop timeout adds to the site.conf bound (interpreter
#: start-up, the cluster's own work): the OCF meta-data advises it and the CIB operations use it
TIMEOUT_MARGIN = 30


DEFAULT_TIMINGS = SiteTimings(*(limits[0] for limits in LIMITS.values()))


def timing_warning(timings):
    """The documented warning for FORCEKILL_TIME >= STOP_TIMEOUT, or None."""
    if not timings.forced_from_start:
        return None
    return ("FORCEKILL_TIME=%d >= STOP_TIMEOUT=%d: every stop of this site is forced from the "
            "start (SIGKILL, no orderly shutdown) and takes %d s; make STOP_TIMEOUT larger"
            % (timings.forcekill_time, timings.stop_timeout, timings.forcekill_time))


def load_site_conf(path):
    """(SiteTimings, [Diagnostic]) for the ``site.conf`` at ``path`` (missing = defaults)."""
    conf = KeyValueFile.load(path)
    diagnostics = conf.diagnostics(known_keys=LIMITS)
    values = {}
    for key in LIMITS:
        values[key], problem = effective_value(key, conf.get(key))
        if problem:
            diagnostics.append(Diagnostic(path, conf.lineno(key), problem))
    timings = SiteTimings(values["BOOT_TIMEOUT"], values["STOP_TIMEOUT"], values["FORCEKILL_TIME"])
    warning = timing_warning(timings)
    if warning:
        diagnostics.append(Diagnostic(path, conf.lineno("FORCEKILL_TIME"), warning))
    return timings, diagnostics


def check_value(key, value):
    """Strict check for a value about to be written: returns it as text or raises ConfigError."""
    if key not in LIMITS:
        raise ConfigError("site.conf has no key %r; known keys: %s" % (key, ", ".join(LIMITS)))
    text = str(value).strip()
    effective, problem = effective_value(key, text)
    if problem or str(effective) != text.lstrip("+"):
        _default, low, high = LIMITS[key]
        raise ConfigError("%s=%s is out of range: write a whole number of seconds from %d to %d"
                          % (key, value, low, high))
    return str(effective)


#: seconds the cluster gives one monitor of the site (the OCF meta-data advises it, the CIB op uses it)
MONITOR_TIMEOUT = 30
#: seconds between two monitors of the site unless the operator says otherwise (cjc_cluster_service's default)
MONITOR_INTERVAL = 10
