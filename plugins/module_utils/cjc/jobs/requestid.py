"""Request IDs as users write them (``123``, ``123.site``): light, for the user commands' start."""

from ..errors import NqsError


def parse_request_id(text, site_name=None):
    """``123`` or ``123.site`` -> 123, or NqsError.

    With ``site_name`` (the site the command acts on), a ``.site`` suffix must name that
    site: a request ID of another site is refused, since a command reaches only its own
    site (netdaemon serves no delete or tracker of another site's request).
    """
    head, _dot, suffix = str(text).partition(".")
    if not head.isdigit():
        raise NqsError("request ID %r is not valid (like 123 or 123.sitename)" % (text,))
    if suffix and site_name is not None and not names_site(suffix, site_name):
        raise NqsError("request %s belongs to site %s, not to site %s (NQS_SITE): a command reaches only its "
                       "own site; run it with NQS_SITE=%s on a node of that site" % (text, suffix, site_name, suffix))
    return int(head)


def names_site(name, site_name):
    """Whether host name ``name`` names the site ``site_name``: the same name, or the short
    form of it (``testsite`` for ``testsite.example.com``, or the other way round), case
    aside. Two different full names never match."""
    name, site_name = name.lower().rstrip("."), site_name.lower().rstrip(".")
    if name == site_name:
        return True
    if "." in name and "." in site_name:
        return False
    return name.split(".", 1)[0] == site_name.split(".", 1)[0]
