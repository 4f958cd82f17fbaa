"""The job records themselves (console/jobs.py): what other consoles read, so the format is a contract."""
from __future__ import annotations

import json
import os

import pytest

from camdeck.console.jobs import SCHEMA_VERSION, JobRegistry, NoSuchJob
from camdeck.fileio.leftovers import process_start_ticks


def test_a_record_is_plain_json_with_its_schema_version(tmp_path):
    registry = JobRegistry(tmp_path)
    job = registry.start("record", "session a", plan="timer: 5 s", outputs=[tmp_path / "a_data.txt"])
    doc = json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["state"] == "running"
    assert doc["pid"] == os.getpid() and doc["pid_start"] == process_start_ticks(os.getpid())
    assert doc["outputs"] == [str(tmp_path / "a_data.txt")] and doc["ended"] is None
    job.finish("finished", "complete (the timer ran out)")
    doc = json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text())
    assert doc["state"] == "finished" and doc["ended"] and doc["outcome"] == "complete (the timer ran out)"


def test_records_of_another_schema_or_broken_files_are_skipped(tmp_path):
    registry = JobRegistry(tmp_path)
    job = registry.start("capture", "stills")
    (tmp_path / "jobs" / "future-1.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "id": "x"}))
    (tmp_path / "jobs" / "half.json").write_text('{"schema_version": 1, "id": ')
    assert [r.id for r in registry.records()] == [job.id]


def test_a_reused_pid_is_not_taken_for_the_job(tmp_path):
    """Same pid, another start time: the job's process is gone, so the record shows as died."""
    registry = JobRegistry(tmp_path)
    job = registry.start("record", "session b")
    assert registry.get(job.id).effective_state() == "running"
    job.update(pid_start=job.record.pid_start - 1)
    assert registry.get(job.id).effective_state() == "died"


def test_ids_by_unique_prefix(tmp_path):
    registry = JobRegistry(tmp_path)
    a, b = registry.start("record", "a"), registry.start("capture", "b")
    assert registry.get(a.id[:9]).id == a.id and registry.get("capture").id == b.id
    with pytest.raises(NoSuchJob, match="fix: run `camdeck jobs`"):
        registry.get("reconstruct")


def test_old_finished_records_are_pruned_running_ones_kept(tmp_path):
    registry = JobRegistry(tmp_path)
    for i in range(5):
        registry.start("capture", f"old {i}").finish("finished", "done")
    running = registry.start("record", "now")
    registry.prune(keep=2)
    left = registry.records()
    assert running.id in {r.id for r in left} and len(left) == 3
