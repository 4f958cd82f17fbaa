"""Where a fleet run's results go, so that none is dropped: history, spool, Slack, Athena.

For each device, after its measurement (or failure), :func:`record_device` in this order:

1. posts the Slack report; one that does not go out waits in the spool (monitoring.notify);
2. stores the row, with whether the report went out, in the history; a history that cannot be
   written (not SQLite, read-only, disk full) makes the device *failed* (the run exits 1) and the
   row waits in the spool, to be stored by the next run whose history works;
3. inserts the row into Athena when configured (spooled when Athena is down, monitoring.cloud).

Before its devices, a run sends what earlier runs left in the spool (:func:`replay_spool`): S3
files and Athena statements, history rows, then the Slack reports, oldest first and marked as
delayed. Every entry is claimed before it is sent (monitoring.spool), so shards sharing a spool
never send one twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from camdeck.monitoring.errors import MonitoringError
from camdeck.monitoring.history import HistoryStore, MonitoringRecord, record_from_dict
from camdeck.monitoring.spool import Spool

log = logging.getLogger(__name__)


@dataclass
class Recorded:
    """Where one device's row went: the Slack report, the history, Athena."""

    record: MonitoringRecord
    notified: bool
    notify_error: str = ""
    history_error: str = ""


@dataclass
class SpoolReplay:
    """What a run sent from the spool before its devices, and what still waits."""

    cloud_sent: int = 0
    history_sent: int = 0
    slack_sent: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.cloud_sent + self.history_sent + self.slack_sent

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "uploads_and_athena": self.cloud_sent, "history": self.history_sent,
                "slack": self.slack_sent, "waiting": self.remaining}


STOPPED_NOT_SENT = "not sent: the run was stopped by a signal before its report"


def record_device(record: MonitoringRecord, *, history: HistoryStore, spool: Spool, notifier, cloud) -> Recorded:
    """Notify, store and insert one device's row (see the module docstring); never raises for a
    service's failure: each comes back in the result (and a log line).

    ``notifier`` and ``cloud`` None (a run stopped by a signal): the row goes to the history (or
    the spool) only, with ``notified`` false, so nothing outlasts the scheduler's grace period.
    """
    if notifier is None:
        notified, notify_error = False, STOPPED_NOT_SENT
    else:
        sent = notifier.send_report(record)
        notified, notify_error = sent.sent, "" if sent.sent else sent.error
    record = replace(record, notified=notified, notify_error=notify_error)
    out = Recorded(record, notified, notify_error)
    try:
        history.add(record)
    except MonitoringError as err:
        out.history_error = _spool_row(spool, history, record, err)
        log.error("%s/%s: %s", record.deployment, record.device_id, out.history_error)
    if cloud is None:
        return out
    try:
        cloud.record_result(record)
    except MonitoringError as err:
        log.error("%s/%s: Athena: %s", record.deployment, record.device_id, err)
    return out


def _spool_row(spool: Spool, history: HistoryStore, record: MonitoringRecord, err: MonitoringError) -> str:
    """Keep a row the history refused; returns the device's error line."""
    try:
        spool.put("history", {"db": str(history.path), "record": record.to_dict()})
    except OSError as spool_err:
        return (f"{err}; and spool {spool.root} cannot keep the result either "
                f"({spool_err.strerror or type(spool_err).__name__}): it is only in this run's output")
    return f"{err}; the result waits in the spool {spool.root} for the next run"


def replay_spool(*, history: HistoryStore, spool: Spool, notifier, cloud) -> SpoolReplay:
    """Send what earlier runs left in the spool: uploads and Athena, history rows, then Slack reports."""
    out = SpoolReplay()
    cloud_replay = cloud.replay_spool()
    out.cloud_sent, out.remaining = cloud_replay.sent, cloud_replay.remaining
    out.errors += cloud_replay.errors
    for claim in spool.claimed(["history"]):
        try:
            history.add(record_from_dict(claim.data["record"]))
        except MonitoringError as err:
            claim.release()
            out.errors.append(str(err))
            break
        except (KeyError, TypeError, ValueError) as err:
            claim.release()
            log.warning("spool entry %s is not a history row (%s); kept for inspection", claim.entry.name, err)
            continue
        except BaseException:
            claim.release()
            raise
        claim.done()
        out.history_sent += 1
    slack = notifier.replay_spool()
    out.slack_sent = slack.sent
    out.errors += slack.errors
    for deployment, device_id, timestamp in slack.delivered:
        try:
            history.mark_notified(deployment, device_id, timestamp)
        except MonitoringError:
            pass            # the row itself may be waiting in the spool; the report went out anyway
    out.remaining = spool.pending()
    return out
