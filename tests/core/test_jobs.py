"""The background-job runner: periodic jobs, failures isolated, PostgreSQL singleton lock."""

import time

from sqlalchemy import text

from cityops.core.jobs import Scheduler, lock_key


def test_runs_registered_jobs_periodically(db):
    sched = Scheduler(db)
    calls = []
    sched.register("t.tick", 0.05, lambda _db: calls.append(1))
    sched.start()
    try:
        deadline = time.monotonic() + 3
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sched.stop()
    assert len(calls) >= 3
    assert sched.jobs["t.tick"].last_outcome == "ok"


def test_failing_job_is_recorded_and_does_not_stop_others(db):
    sched = Scheduler(db)

    def boom(_db):
        raise RuntimeError("disk full")

    sched.register("t.boom", 60, boom)
    sched.register("t.fine", 60, lambda _db: None)
    assert sched.run_once("t.boom") == "error"
    assert "disk full" in sched.jobs["t.boom"].last_error
    assert sched.run_once("t.fine") == "ok"


def test_duplicate_registration_is_refused(db):
    sched = Scheduler(db)
    sched.register("t.x", 1, lambda _db: None)
    try:
        sched.register("t.x", 1, lambda _db: None)
    except ValueError as exc:
        assert "twice" in str(exc)
    else:
        raise AssertionError("duplicate job accepted")


def test_singleton_job_skips_while_another_process_holds_the_lock(db):
    sched = Scheduler(db)
    ran = []
    sched.register("t.single", 60, lambda _db: ran.append(1))
    if not db.is_postgres:
        assert sched.run_once("t.single") == "ok"  # one process by design on SQLite
        return
    with db.engine.connect() as other:  # stands in for a second worker process
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("t.single")})
        assert sched.run_once("t.single") == "skipped"
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("t.single")})
    assert ran == []
    assert sched.run_once("t.single") == "ok" and ran == [1]


def test_audit_verification_job_is_registered(app):
    sched = app.state.ctx.scheduler
    assert "audit.verify_chain" in sched.jobs
    assert sched.run_once("audit.verify_chain") == "ok"


def test_api_only_process_runs_just_its_per_process_jobs(db):
    sched = Scheduler(db)
    ran = []
    sched.register("t.local", 0.05, lambda _db: ran.append("local"), singleton=False, local=True)
    sched.register("t.global", 0.05, lambda _db: ran.append("global"))
    sched.start(local_only=True)
    try:
        deadline = time.monotonic() + 3
        while "local" not in ran and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sched.stop()
    assert "local" in ran and "global" not in ran


def test_ingest_counters_reach_the_connection_row(client, auth_headers, app):
    """Counters are kept in memory and flushed by a per-process job (IOT-2)."""
    from cityops.sim.wire import ctwing

    h = auth_headers("admin")
    c = client.post("/api/v1/connections", json={"kind": "ctwing", "name": "cnt"}, headers=h).json()
    body, headers, _ = ctwing.online("x1", True)
    client.post(c["push_url"], content=body, headers=headers)
    client.post(f"/ingest/{c['id']}?token=bad", content=body, headers=headers)
    assert app.state.ctx.scheduler.run_once("ingest.flush_counters") == "ok"
    row = client.get(f"/api/v1/connections/{c['id']}", headers=h).json()
    assert (row["received"], row["accepted"], row["rejected"]) == (2, 1, 1)
    assert "token" in row["last_error"] and row["last_received_at"]


def test_postpone_holds_a_job_back_before_and_after_start(db):
    """The demo postpones the online-rate sample until its fleet has reported once."""
    sched = Scheduler(db)
    calls = []
    sched.register("t.early", 0.05, lambda _db: calls.append("early"), initial_delay_s=0.0)
    sched.register("t.late", 0.05, lambda _db: calls.append("late"))
    sched.postpone("t.early", 30)  # before start
    sched.postpone("t.missing", 30)  # unknown jobs are ignored
    sched.start()
    try:
        sched.postpone("t.late", 30)  # after start: pushes the next run back
        time.sleep(0.5)
    finally:
        sched.stop()
    assert "early" not in calls
    assert calls.count("late") <= 1  # at most the run already due when it was postponed
