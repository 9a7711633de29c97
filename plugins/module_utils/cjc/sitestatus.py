"""What a site reports about itself: owner, daemons, queues, running jobs.

Served by ``comagent`` as JSON and read by the OCF agent and the Ansible modules.
"""

import os

from . import runstate
from .daemonset import SITE_DAEMONS
from .nqsapi import list_jobs, queue_status
from .ownership import OWNER_RECORD
from .store import RUNNING


def daemon_states(site):
    """{daemon name: {"pid": pid or None, "state": "running"|"stopped"}} on this node."""
    states = {}
    for spec in SITE_DAEMONS:
        for record in spec.records:
            pid = runstate.live_pid(site.record_path(record))
            states[record[:-len(".pid")]] = {"pid": pid, "state": "running" if pid else "stopped"}
    return states


def site_status(site, store):
    owner = runstate.read_record(os.path.join(site.run_dir, OWNER_RECORD))
    if owner is not None:
        owner = dict(owner, alive=runstate.record_is_alive(owner))
    return {
        "site": site.name,
        "machine_id": site.machine_id,
        "db_path": site.db_path,
        "host": runstate.this_host(),
        "owner": owner,
        "daemons": daemon_states(site),
        "queues": [q._asdict() for q in queue_status(store)],
        "running_jobs": [job for job in list_jobs(store) if job["state"] == RUNNING],
    }
