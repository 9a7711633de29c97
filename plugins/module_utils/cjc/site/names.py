"""Site name and address checks (guide §2.1.1, §2.2.2, §2.3(6)).

A site name is the *canonical* name of the relocatable address: forward lookup of
the name and reverse lookup of its address must agree exactly ("a full domain
name; an alias cannot be used"). Lookups go through the system resolver, so
``/etc/hosts`` (per network namespace: ``/etc/netns/<ns>/hosts``) and DNS both work.
"""

import re
import socket

from ..errors import NameCheckError

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def check_hostname_syntax(name):
    """Raise NameCheckError unless ``name`` is a syntactically valid host name."""
    if not isinstance(name, str) or not _HOSTNAME.match(name):
        raise NameCheckError("site name %r is not a valid host name (letters, digits, '-' and '.', "
                             "at most 253 characters)" % (name,))


def link_name(address):
    """The registry link name of an IPv4 address: 10.192.18.10 -> ``0AC0120A`` (§2.2)."""
    import ipaddress  # strict parsing, for the writers of links; a reader needs only address_of_link
    return "%08X" % int(ipaddress.IPv4Address(address))


def address_of_link(name):
    """Inverse of :func:`link_name`, or None for a name that is not 8 upper-case hex digits."""
    if not re.match(r"^[0-9A-F]{8}$", name):
        return None
    return socket.inet_ntoa(bytes.fromhex(name))


def reverse_name(address):
    """The canonical name of ``address`` by reverse lookup, or None."""
    try:
        return socket.gethostbyaddr(address)[0]
    except (socket.herror, socket.gaierror, OSError):
        return None


def resolve_site_address(name):
    """The IPv4 address whose canonical name is exactly ``name``, or NameCheckError.

    Refuses: syntax errors, names that do not resolve, names with several IPv4
    addresses, addresses without a reverse entry, aliases (naming the canonical
    name to use instead) and forward/reverse disagreement.
    """
    check_hostname_syntax(name)
    try:
        _canonical, _aliases, addresses = socket.gethostbyname_ex(name)
    except (socket.herror, socket.gaierror) as err:
        raise NameCheckError("site name %s does not resolve to an address (%s); add it to DNS or "
                             "/etc/hosts on every node with its relocatable IP address"
                             % (name, err.strerror or err))
    addresses = sorted(set(addresses))
    if len(addresses) != 1:
        raise NameCheckError("site name %s resolves to several addresses (%s); a site name must "
                             "name exactly one relocatable address" % (name, ", ".join(addresses)))
    address = addresses[0]
    try:
        canonical, aliases, _addrs = socket.gethostbyaddr(address)
    except (socket.herror, socket.gaierror) as err:
        raise NameCheckError("address %s of site name %s has no reverse lookup (%s); forward and "
                             "reverse lookups must both work (§2.2.2)"
                             % (address, name, err.strerror or err))
    if canonical != name:
        if name in aliases or name.split(".")[0] == canonical.split(".")[0]:
            raise NameCheckError("site name %s is an alias of %s; the site name must be the canonical "
                                 "(full domain) name of its address: use %s"
                                 % (name, address, canonical))
        raise NameCheckError("forward and reverse lookups disagree: %s -> %s, but %s -> %s; fix DNS or "
                             "/etc/hosts so that both name the same host" % (name, address, address, canonical))
    return address


def local_addresses():
    """{address: interface} of every IPv4 address configured in this network namespace."""
    import psutil  # imported here: the name checks above must work without it
    found = {}
    for interface, entries in psutil.net_if_addrs().items():
        for entry in entries:
            if entry.family == socket.AF_INET:
                found[entry.address] = interface
    return found


def check_address_is_local(address, site_name):
    """Raise NameCheckError unless ``address`` is configured on an interface here."""
    configured = local_addresses()
    if address not in configured:
        raise NameCheckError("address %s of site %s is not configured on any interface of this host "
                             "(configured: %s); activate the relocatable IP address on this node first "
                             "(§2.2.2)" % (address, site_name,
                                           ", ".join("%s on %s" % item for item in sorted(configured.items()))
                                           or "none"))
    return configured[address]
