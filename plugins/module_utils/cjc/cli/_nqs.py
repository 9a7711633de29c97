"""What the NQS user commands share (private): the site from NQS_SITE and its client."""

from ..nqsclient import SiteClient
from ..nqssite import resolve_nqs_site
from .common import layout_of


def client_for(args, prog):
    """The SiteClient of the site NQS_SITE names (SPEC §2.9), or NqsFatal."""
    return SiteClient(resolve_nqs_site(layout_of(args), prog))


def request_label(job_id, site):
    return "%d.%s" % (job_id, site.name)
