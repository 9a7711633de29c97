"""An online backup of a running cluster site, restored on the other lab node (docs/backup.md).

Node = network + mount + UTS namespace (tests/lab); both see the shared disk. On node1 the
site runs with requests running, queued and finished and with definitions of every kind
(a queue, its settings, a machine ID, a user mapping); ``cjcbackup`` runs while a
submitter keeps adding requests. node1 is then lost; on node2 ``cjcrestore`` makes the site
at a fresh DB path with cjcmksite's checks, ``cjcpw`` starts it there, and every request
and definition of the backup is served by the restored site.
"""

import json
import os
import shutil
import sys
import time

import pytest

from cjc.jobs.requests import machine, map_remote_user, queue_status
from cjc.jobs.store import census, open_store

pytestmark = pytest.mark.netns

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "demo"))
import playbook  # noqa: E402  (the collection's playbooks run against the lab)
CLUSTER = "/usr/lib/nqs/cluster/"


@pytest.fixture(scope="module")
def lab(engine_lab):
    return engine_lab


def on(lab, node, *argv, site=None, stdin=None):
    env = dict(os.environ, NQS_SITE=site) if site else None
    return lab.nsx(node, *argv, check=False, env=env, input=stdin)


def qsub(lab, site, queue, script):
    done = on(lab, "node1", "/usr/bin/qsub", "-q", queue, site=site, stdin=script)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[1].split(".")[0])


def forget_site(lab, site):
    """Stop the site on every node, revive them and remove its link (the next test makes it anew)."""
    for node in lab.node_names:
        on(lab, node, CLUSTER + "cjcpw", "-stop", site)
    lab.reset()
    for node in lab.node_names:
        on(lab, node, "rm", "-f", "/usr/spool/nqs/%08X" % int.from_bytes(bytes(map(int, lab.site_address.split("."))),
                                                                         "big"))


def test_a_backup_taken_while_jobs_run_restores_every_request_and_definition_on_the_other_node(lab):
    site, disk, tag = lab.site_fqdn, lab.config.shared_path, lab.config.name  # DB paths of this lab only
    db, db2, dest = disk + "/jobdb-" + tag, disk + "/jobdb2-" + tag, disk + "/backups"
    host_db, host_db2 = lab.shared_dir + "/jobdb-" + tag, lab.shared_dir + "/jobdb2-" + tag
    submitter = None
    try:
        lab.move_vip("node1")
        assert on(lab, "node1", CLUSTER + "cjcmksite", site, "200", db).returncode == 0
        assert on(lab, "node1", CLUSTER + "cjcpw", "-c", site, db).returncode == 0
        defined = on(lab, "node1", "/usr/bin/qmgr", "-c", "set queue guibs_1 run_limit=2",
                     "-c", "create batch_queue held priority=5", "-c", "stop queue held",
                     "-c", "add mid 300 peer.cjclab.example 10.213.0.50", "-c", "add map 300 alice root", site=site)
        assert defined.returncode == 0, defined.stderr
        finished = qsub(lab, site, "guibs_1", "true\n")
        deadline = time.monotonic() + 20
        while census(host_db + "/nqs/private/nqs.db")["jobs_by_state"].get("EXITED", 0) < 1:
            assert time.monotonic() < deadline, "the first request never finished"
            time.sleep(0.1)
        running = [qsub(lab, site, "guibs_1", "sleep 300\n") for _n in range(2)]
        queued = [qsub(lab, site, "held", "echo held %d\n" % n) for n in range(3)]
        deadline = time.monotonic() + 20
        while census(host_db + "/nqs/private/nqs.db")["jobs_by_state"].get("RUNNING", 0) < 2:
            assert time.monotonic() < deadline, "the two sleepers never ran"
            time.sleep(0.1)
        before = sorted([finished] + running + queued)

        # a submitter keeps writing while the backup is taken
        loop = "for i in $(seq 40); do echo 'echo more' | /usr/bin/qsub -q held >/dev/null || exit 1; done"
        submitter = lab.spawn("node1", "sh", "-c", loop, env=dict(os.environ, NQS_SITE=site))
        planned = on(lab, "node1", CLUSTER + "cjcbackup", "--check", site, dest)
        assert planned.returncode == 0 and "would write %s/%s-" % (dest, site) in planned.stdout, planned.stderr
        assert not os.path.exists(lab.shared_dir + "/backups"), "--check wrote something"
        made = on(lab, "node1", CLUSTER + "cjcbackup", site, dest)
        assert made.returncode == 0, made.stderr
        assert submitter.wait(timeout=120) == 0
        backup = made.stdout.split(" backed up to ")[1].split(" (")[0]
        host_backup = lab.shared_dir + backup[len(disk):]
        with open(os.path.join(host_backup, "manifest.json")) as handle:
            manifest = json.load(handle)
        backed = manifest["census"]
        assert set(before) <= set(backed["job_ids"])  # every request acknowledged before the backup
        assert set(backed["job_ids"]) <= set(census(host_db + "/nqs/private/nqs.db")["job_ids"])
        assert backed["jobs_by_state"]["RUNNING"] == 2 and manifest["site_was_running"] is True
        assert sorted(os.listdir(host_backup)) == ["daemon.conf", "manifest.json", "nqs.db", "siteinfo"]
        assert os.stat(host_backup).st_mode & 0o777 == 0o700

        lab.kill_node("node1")  # the node and, for this test, the site DB are lost
        lab.move_vip("node2")
        restored = on(lab, "node2", CLUSTER + "cjcrestore", backup, db2)
        assert restored.returncode == 0, restored.stderr
        assert "Phase 3: Restore the site database and configuration from %s." % backup in restored.stdout
        assert "Phase 5: Register the site: /usr/spool/nqs/0AD50064 -> %s." % db2 in restored.stdout
        again = on(lab, "node2", CLUSTER + "cjcrestore", backup, db2)
        assert again.returncode == 1 and "%s already holds a site database" % db2 in again.stderr
        started = on(lab, "node2", CLUSTER + "cjcpw", "-c", site, db2)
        assert started.returncode == 0, started.stderr

        listing = on(lab, "node2", "/usr/bin/qstat", "-a", site=site)
        assert listing.returncode == 0, listing.stderr
        shown = {int(line.split()[0].split(".")[0]) for line in listing.stdout.splitlines()
                 if line.split() and line.split()[0].split(".")[0].isdigit()}
        live = {job for job in backed["job_ids"] if job != finished}  # qstat -a lists the unfinished
        assert live <= shown, sorted(live - shown)
        after = census(host_db2 + "/nqs/private/nqs.db")
        assert after["job_ids"] == backed["job_ids"] and after["queues"] == backed["queues"] == [
            "guibs_1", "guilb_def", "held"]
        for table in ("machines", "user_map", "queues", "jobs"):
            assert after["tables"][table] == backed["tables"][table], table
        with open_store(host_db2 + "/nqs") as store:
            held = {queue.name: queue for queue in queue_status(store)}["held"]
            assert (held.priority, held.started) == (5, False)
            assert machine(store.db, 300)["name"] == "peer.cjclab.example"
            assert map_remote_user(store.db, 300, "alice") == "root"
        held_listing = on(lab, "node2", "/usr/bin/qstat", "held", site=site)
        assert "[ENABLED, STOPPED];  pri=5" in held_listing.stdout, held_listing.stdout
        assert "%d queued;" % (len(backed["job_ids"]) - 3) in held_listing.stdout  # all but finished + running
        with open(os.path.join(host_db2, "nqs", "siteinfo")) as handle:
            assert "machine_id=200" in handle.read()
        assert on(lab, "node2", CLUSTER + "cjcpw", "-stop", site).returncode == 0
    finally:
        if submitter and submitter.poll() is None:
            submitter.kill()
            submitter.wait()
        forget_site(lab, site)
        for path in (host_db, host_db2, lab.shared_dir + "/backups"):
            shutil.rmtree(path, ignore_errors=True)


def test_backup_yml_backs_up_where_the_site_runs_and_restores_on_the_other_node(lab):
    """playbooks/backup.yml: check mode writes nothing; the node running the site makes the one
    backup; the restore run makes the site at a fresh DB path on node2, and a second is no change."""
    site, disk, tag = lab.site_fqdn, lab.config.shared_path, lab.config.name
    db, db2 = "%s/pbdb-%s" % (disk, tag), "%s/pbdb2-%s" % (disk, tag)
    dest, host_dest = disk + "/pb-backups", lab.shared_dir + "/pb-backups"
    common = ("-e", "cjc_backup_dir=" + dest, "-e", "cjc_cluster_db_path=" + db)
    try:
        lab.move_vip("node1")
        assert on(lab, "node1", CLUSTER + "cjcmksite", site, "200", db).returncode == 0
        assert on(lab, "node1", CLUSTER + "cjcpw", "-c", site, db).returncode == 0
        assert on(lab, "node1", "/usr/bin/qmgr", "-c", "stop queue guibs_1", site=site).returncode == 0
        jobs = [qsub(lab, site, "guibs_1", "echo %d\n" % n) for n in range(3)]

        checked = playbook.run_playbook(lab.inventory_path, "backup.yml", "--check", *common)
        assert not checked.failed, checked.output[-3000:]
        assert checked.recap["node1"]["changed"] == 1 and checked.recap["node2"]["changed"] == 0
        assert not os.path.exists(host_dest), "check mode wrote a backup"
        made = playbook.run_playbook(lab.inventory_path, "backup.yml", *common)
        assert not made.failed, made.output[-3000:]
        assert made.recap["node1"]["changed"] == 1 and made.recap["node2"]["changed"] == 0
        assert made.recap["node2"]["failed"] == 0  # the site is not even registered there: nothing to do
        backups = os.listdir(host_dest)
        assert len(backups) == 1 and backups[0].startswith(site + "-"), backups
        backup = dest + "/" + backups[0]
        assert "node1: %s (3 request(s), queues guibs_1, guilb_def)" % backup in made.output

        assert on(lab, "node1", CLUSTER + "cjcpw", "-stop", site).returncode == 0
        lab.kill_node("node1")
        lab.move_vip("node2")
        restore = ("--limit", "node2", "-e", "cjc_restore_from=" + backup, "-e", "cjc_restore_db_path=" + db2,
                   "-e", "cjc_restore_node=node2")
        first = playbook.run_playbook(lab.inventory_path, "backup.yml", *(common + restore))
        assert not first.failed and first.recap["node2"]["changed"] == 1, first.output[-3000:]
        again = playbook.run_playbook(lab.inventory_path, "backup.yml", *(common + restore))
        assert not again.failed and again.recap["node2"]["changed"] == 0, again.output[-3000:]
        assert census(lab.shared_dir + "/pbdb2-%s/nqs/private/nqs.db" % tag)["job_ids"] == jobs
    finally:
        forget_site(lab, site)
        for path in ("pbdb-" + tag, "pbdb2-" + tag, "pb-backups"):
            shutil.rmtree(os.path.join(lab.shared_dir, path), ignore_errors=True)
