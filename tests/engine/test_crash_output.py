"""A crash between a job's end and its commit must not lose the run's output (guide §2.5.4).

Found by the crash torture: ``JobStore.record_ended`` reads a run's output files and
*unlinks them inside the transaction* that records the end. When nqsdaemon dies
before that COMMIT (the store's ``CJC_STORE_FAULT`` hook makes it die exactly there),
the transaction rolls back but the files are gone: at the next start the restart
rules record the interrupted run with empty output. The files should be removed
only after the commit.
"""

import os

from cjc.jobs.store import FAULT_ENV
from jobsite import wait_until


def test_output_of_a_run_survives_a_crash_before_its_end_is_committed(node):
    fault = os.path.join(node.layout.root, "fault")
    node.env[FAULT_ENV] = fault
    daemon = node.start()
    job_id = node.qsub("echo out-before-crash\nsleep 0.5\n", "-q", "guibs_1")
    wait_until(lambda: node.job(job_id)["pid"], 20, "the job to run")
    with open(fault, "w") as handle:
        handle.write("nqsdaemon\n")  # the next write transaction of nqsdaemon: recording the job's end
    assert daemon.wait(20) == -9 and not os.path.exists(fault)
    assert node.job(job_id)["state"] == "RUNNING"  # the end was never committed
    del node.env[FAULT_ENV]
    node.start()
    job = node.wait_state(job_id, "EXITED")  # re-run by the restart rules (queue RESTART, job ENABLE)
    assert job["runs"] == 2
    first_run = node.tracker(job_id)["outputs"][0]
    assert first_run["how"] == "interrupted"
    assert first_run["stdout"] == "out-before-crash\n"
