"""Sun Cluster 2.2 backend of ``cjc_cluster_service`` (guide §5.2).

What it writes into ``config_dir``: ``start.sh`` and ``stop.sh``, the guide's
``pmfadm`` start and stop scripts for the data service, with the PMF tag
``options.tag`` (default ``service_name``), the site and its DB path filled in.

Fixes of the guide's samples (each also in docs/products.md):

1. ``ServStatus=<quote>pmfadm -q JobService <quote>`` with typographic quotes (U+2018) for backquotes;
   even with backquotes it captures pmfadm's (empty) output, not its exit status.
   Fixed: ``pmfadm -q <tag>`` then ``ServStatus=$?``.
2. ``if [$ServStatus -ne 0 ]`` / ``if [$PmfStat -ne 0 ]``: no space after ``[`` (runs a
   command named ``[1``). Fixed: ``if [ "$ServStatus" -ne 0 ]``.
3. ``pmfadm -s JobService /usr/lib/nqs/cluster/cjcpw <en dash>stop $JobSiteName``: ``pmfadm -s``
   takes a tag and a signal, not a command, and the dash of ``-stop`` is an en dash (U+2013). Fixed:
   ``pmfadm -s <tag>`` (PMF stops watching, so cjcpw's exit is not restarted), then
   ``/usr/lib/nqs/cluster/cjcpw -stop "$JobSiteName"`` with its own status check.
4. The ``:`` lines are the guide's "more of your script here" marks; left out.

The product CLI ``pmfadm`` is only ever run by these scripts on the cluster (the
module runs nothing): the operator registers them as the data service's start and
stop methods (``hareg``).
"""

from ._rendered import RenderedBackend, opt_name, sh_line, sh_quote, start_argv, stop_argv


def _head(request, what, tag):
    return ["#!/bin/sh",
            "#",
            "# JobCenter %s script for Sun Cluster 2.2 (guide 5.2), made by cjc.cluster." % what,
            "# PMF tag %s, site %s." % (tag, request.site),
            "#"]


def start_script(request, tag):
    cjcpw = start_argv(request, True)[:-2]  # the command and its --root; site and DB come from variables
    return "\n".join(_head(request, "start", tag) + [
        "#If JobCenter already running,skip and proceed.",
        "#",
        "JobSiteName=%s" % sh_quote(request.site),
        "JobDir=%s" % sh_quote(request.db_path),
        "pmfadm -q %s" % sh_quote(tag),
        "ServStatus=$?",
        'if [ "$ServStatus" -ne 0 ]',
        "then",
        "#Try to startup Job Service.",
        'echo "Starting JobCenter Service"',
        'pmfadm -c %s -C 0 %s "$JobSiteName" "$JobDir"' % (sh_quote(tag), sh_line(cjcpw)),
        "PmfStat=$?",
        'if [ "$PmfStat" -ne 0 ]',
        "then",
        'echo "Failed to startup JobCenter Service."',
        'echo "Because of pmfadm error returned by $PmfStat."',
        "exit 1",
        "fi",
        "else",
        'echo "JobCenter Service Already started."',
        "fi",
        "exit 0",
        ""])


def stop_script(request, tag):
    cjcpw = stop_argv(request)[:-2]  # the command and its --root; "-stop" and the site follow
    return "\n".join(_head(request, "stop", tag) + [
        "#If JobCenter Is not running,skip and proceed.",
        "#",
        "JobSiteName=%s" % sh_quote(request.site),
        "pmfadm -q %s" % sh_quote(tag),
        "ServStatus=$?",
        'if [ "$ServStatus" -eq 0 ]',
        "then",
        "#Service Running,try to stop.",
        "pmfadm -s %s" % sh_quote(tag),
        "PmfStat=$?",
        'if [ "$PmfStat" -ne 0 ]',
        "then",
        'echo "Some errors happened while executing pmfadm to stop JobService"',
        'echo "Because of pmfadm error returned by $PmfStat."',
        "exit 1",
        "fi",
        '%s -stop "$JobSiteName"' % sh_line(cjcpw),
        "CjcStat=$?",
        'if [ "$CjcStat" -ne 0 ]',
        "then",
        'echo "cjcpw -stop failed with status $CjcStat."',
        "exit 1",
        "fi",
        "else",
        'echo "JobCenter Service Already stopped."',
        "fi",
        "exit 0",
        ""])


class Suncluster22Backend(RenderedBackend):
    OPTIONS = {"tag": (opt_name, None)}

    def tag(self, request, options):
        return options["tag"] or request.service_name

    FILES = ("start.sh", "stop.sh")

    def texts(self, request, current):
        tag = self.tag(request, current["options"])
        return [start_script(request, tag), stop_script(request, tag)]

    def commands(self, request, current):
        return []

    def settings(self, request, current):
        start, stop = self.paths(request, current["options"])
        return ["copy %s and %s to the same path on every node" % (start, stop),
                "register them as the START and STOP methods of the data service of logical host %s with "
                "hareg -r (see the Sun Cluster 2.2 API guide), then turn the service on with hareg -y"
                % request.site]

    def resources(self, request, current):
        return {"pmf_tag": self.tag(request, current["options"])}
