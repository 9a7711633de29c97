"""Cluster products: one product-neutral request, one backend per product (guide §3-§6).

``cjc_cluster_service`` registers a site's start/stop/monitor with a cluster
product. The request is the same for every product:

=====================  ==========================================================
field                  meaning
=====================  ==========================================================
``product``            a key of :data:`PRODUCTS`
``site``               site name (canonical name of the relocatable address)
``db_path``            site database path on the shared disk
``address``            the floating (relocatable) IPv4 address, optional ``/prefix``
``service_name``       the product's name for the service (resource, package,
                       group, exec resource); default ``cjc-<site's first label>``
``monitor_interval``   seconds between two health checks of the site
``dependencies``       names of product objects the service needs first (file
                       system/disk resource, client access point, ...): started
                       before it, on the same node
``state``              ``present`` or ``absent``
``options``            product-specific settings, checked by the backend
``root``               the node's engine root prefix (command paths in the config)
``config_dir``         where rendering backends write their files
=====================  ==========================================================

A backend implements ``read(request, run)`` (the product's current configuration,
reading only), ``plan(request, current)`` (pure: a :class:`ServicePlan`) and
``apply(plan, run)``; ``run(argv, environ)`` returns ``(rc, stdout, stderr)``.
"""

import collections
import ipaddress
import re

from ...config.siteconf import MONITOR_INTERVAL
from ...errors import CjcError, ConfigError
from ...site.names import check_hostname_syntax
from ...site.registry import check_db_path_syntax

PRESENT, ABSENT = "present", "absent"


class ProductError(CjcError):
    """The cluster product cannot do what was asked (not implemented, not installed, refused)."""


class ServiceRequest(collections.namedtuple(
        "ServiceRequest", "product site db_path address service_name monitor_interval dependencies "
                          "state options root config_dir")):
    """The product-neutral request; build it with :func:`make_request` (which validates)."""


ServicePlan = collections.namedtuple("ServicePlan", "request changed actions before after result warnings")
ServicePlan.__doc__ = """``actions``: ordered list of dicts (``action``, ``argv`` or ``path``...);
``before``/``after``: the product configuration as text (for diff); ``result``: what the
module returns besides (resource ids, rendered paths...)."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")


def default_service_name(site):
    return "cjc-" + site.split(".")[0]


def make_request(product, site, db_path, address=None, service_name=None, monitor_interval=MONITOR_INTERVAL,
                 dependencies=(), state=PRESENT, options=None, root="/", config_dir=None):
    """A checked ServiceRequest, or ConfigError naming the bad value."""
    check_hostname_syntax(site)
    db_path = check_db_path_syntax(db_path)
    if address is not None:
        try:
            address = str(ipaddress.IPv4Interface(address).with_prefixlen
                          if "/" in str(address) else ipaddress.IPv4Address(address))
        except ValueError:
            raise ConfigError("address %r is not an IPv4 address (like 192.168.1.100 or 192.168.1.100/24)"
                              % (address,))
    service_name = service_name or default_service_name(site)
    for name in [service_name] + list(dependencies):
        if not _NAME.match(name):
            raise ConfigError("%r is not a usable service or resource name: start with a letter, then "
                              "letters, digits, '_', '.', '-' (at most 63)" % (name,))
    if not isinstance(monitor_interval, int) or not 1 <= monitor_interval <= 3600:
        raise ConfigError("monitor_interval %r is not valid: a whole number of seconds from 1 to 3600"
                          % (monitor_interval,))
    if state not in (PRESENT, ABSENT):
        raise ConfigError("state %r is not known; use present or absent" % (state,))
    return ServiceRequest(product, site, db_path, address, service_name, monitor_interval,
                          tuple(dependencies), state, dict(options or {}), root or "/", config_dir)


def _pacemaker():
    from . import pacemaker
    return pacemaker.PacemakerBackend()


# Plain ``from . import x`` inside each factory: AnsiballZ finds the module_utils to ship by
# reading import statements, so no importlib here.
def _serviceguard():
    from . import serviceguard
    return serviceguard.ServiceguardBackend()


def _clusterpro():
    from . import clusterpro
    return clusterpro.ClusterproBackend()


def _clusterpro_windows():
    from . import clusterpro_windows
    return clusterpro_windows.ClusterproWindowsBackend()


def _suncluster():
    from . import suncluster
    return suncluster.SunclusterBackend()


def _suncluster22():
    from . import suncluster22
    return suncluster22.Suncluster22Backend()


def _msfc():
    from . import msfc
    return msfc.MsfcBackend()


# product -> factory of its backend (imported lazily: a backend may need modules others do not)
PRODUCTS = collections.OrderedDict([
    ("pacemaker", _pacemaker),
    ("serviceguard", _serviceguard),
    ("clusterpro", _clusterpro),
    ("clusterpro_windows", _clusterpro_windows),
    ("suncluster", _suncluster),
    ("suncluster22", _suncluster22),
    ("msfc", _msfc),
])


def backend_for(product):
    """The backend object of ``product``, or ConfigError listing the known products."""
    if product not in PRODUCTS:
        raise ConfigError("cluster product %r is not known; use one of %s" % (product, ", ".join(PRODUCTS)))
    return PRODUCTS[product]()


def implemented_products():
    return [name for name, factory in PRODUCTS.items() if getattr(factory(), "implemented", False)]


def plan_service(request, run):
    """Read the product's configuration and plan the request (changes nothing)."""
    backend = backend_for(request.product)
    return backend.plan(request, backend.read(request, run))


def apply_service(plan, run):
    """Carry the plan out; returns what the backend reports (pacemaker: the node the group runs on)."""
    return backend_for(plan.request.product).apply(plan, run)
