"""``qstat [QUEUE...]``, ``qstat -a``, ``qstat -f REQUEST-ID``: queues, requests, trackers.

Queues print exactly in the guide's form (§2.5.2), the site part being the site name::

    guilb_def@testsite;  type=PIPE;  [ENABLED, INACTIVE];  pri=10
    0 depart;  0 route;  0 queued;  0 wait;  0 hold;  0 arrive;

Batch queues add the run limit and count ``exit run stage queued wait hold arrive``.
"""

import sys
import time

from ..errors import UsageError
from ..jobs.requestid import parse_request_id
from .exits import run
from .options import Options
from ._nqs import client_for, request_label

PROG = "qstat"


def queue_state(queue):
    """``[ENABLED, INACTIVE]`` and friends: accepting requests, and running or not."""
    if not queue["started"]:
        activity = "STOPPED"
    elif queue["running"] or (queue["type"] == "PIPE" and queue["queued"]):
        activity = "ACTIVE"
    else:
        activity = "INACTIVE"
    return "[%s, %s]" % ("ENABLED" if queue["enabled"] else "DISABLED", activity)


def format_queue(queue, site_name):
    head = "%s@%s;  type=%s;  %s;  pri=%d" % (queue["name"], site_name, queue["type"], queue_state(queue),
                                              queue["priority"])
    if queue["type"] == "PIPE":
        counts = "0 depart;  0 route;  %d queued;  0 wait;  0 hold;  0 arrive;" % queue["queued"]
    else:
        head += "  lim=%d" % queue["run_limit"]
        counts = "0 exit;  %d run;  0 stage;  %d queued;  0 wait;  0 hold;  0 arrive;" % (
            queue["running"], queue["queued"])
    return head + "\n" + counts + "\n"


def _stamp(value):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


def format_jobs(jobs, site):
    lines = ["%-22s %-16s %-10s %-16s %-9s %s" % ("REQUEST ID", "NAME", "OWNER", "QUEUE", "STATE", "PGRP")]
    for job in jobs:
        lines.append("%-22s %-16s %-10s %-16s %-9s %s" % (
            request_label(job["id"], site), _shown(job["name"])[:16], job["owner"][:10], job["queue"][:16], job["state"],
            job["pid"] if job["pid"] else "-"))
    return "\n".join(lines) + "\n"


def format_tracker(tracker, site):
    job = tracker["job"]
    lines = ["Request %s: name=%s owner=%s queue=%s state=%s restart=%s runs=%d exit_status=%s" % (
        request_label(job["id"], site), _shown(job["name"]), job["owner"], job["queue"], job["state"], job["restart"],
        job["runs"], "-" if job["exit_status"] is None else job["exit_status"])]
    if job["reason"]:
        lines.append("Reason: %s" % job["reason"])
    lines.append("History:")
    for event in tracker["events"]:
        lines.append("  %s  %-8s %s" % (_stamp(event["at"]), event["state"], event["message"]))
    for output in tracker["outputs"]:
        lines.append("Run %d (%s, %s .. %s):" % (output["run"], output["how"], _stamp(output["started"]),
                                                 _stamp(output["ended"])))
        lines.append("--- stdout")
        lines.append(output["stdout"].rstrip("\n"))
        lines.append("--- stderr")
        lines.append(output["stderr"].rstrip("\n"))
    return "\n".join(lines) + "\n"


def every_job(client, ended):
    """Every request, asked page by page (a reply is one frame, net/wire.py)."""
    jobs, more = [], True
    while more:
        reply = client.call("jobs", all=ended, after=jobs[-1]["id"] if jobs else None)
        jobs += reply["jobs"]
        more = reply["more"] and reply["jobs"]
    return jobs


def whole_tracker(client, job_id):
    """The tracker of ``job_id`` with every run's whole output, asked page by page."""
    tracker = client.call("tracker", id=job_id)["tracker"]
    for output in tracker["outputs"]:
        for stream in ("stdout", "stderr"):
            parts, more = [], True
            while more:
                reply = client.call("output", id=job_id, run=output["run"], stream=stream,
                                    offset=sum(len(part) for part in parts))
                parts.append(reply["text"])
                more = reply["more"] and reply["text"]
            output[stream] = "".join(parts)
    return tracker


def _shown(text):
    """``text`` with control characters escaped: names stored before they were refused at submit."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _body(argv):
    parser = Options(PROG, "Show the queues and requests of the site NQS_SITE names.")
    parser.add_argument("-a", dest="requests", action="store_true", help="list the queued and running requests")
    parser.add_argument("-x", dest="ended", action="store_true", help="with -a: ended requests too")
    parser.add_argument("-f", dest="tracker", metavar="REQUEST-ID", help="the whole tracker of one request")
    parser.add_argument("queues", nargs="*", help="only these queues")
    args = parser.parse_args(argv)
    client = client_for(args, PROG)
    site = client.site
    try:
        if args.tracker:
            sys.stdout.write(format_tracker(whole_tracker(client, parse_request_id(args.tracker, site.name)), site))
            return 0
        if args.requests:
            jobs = every_job(client, args.ended)
            if args.queues:
                jobs = [job for job in jobs if job["queue"] in args.queues]
            sys.stdout.write(format_jobs(jobs, site))
            return 0
        queues = client.call("queues")["queues"]
    finally:
        client.close()
    if args.queues:
        unknown = sorted(set(args.queues) - {q["name"] for q in queues})
        if unknown:
            raise UsageError("no such queue: %s" % ", ".join(unknown))
        queues = [q for q in queues if q["name"] in args.queues]
    sys.stdout.write("".join(format_queue(q, site.name) for q in queues))
    return 0


def main(argv=None):
    return run(PROG, _body, sys.argv[1:] if argv is None else argv)
