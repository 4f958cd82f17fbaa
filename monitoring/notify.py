"""Slack notifications for fleet runs, through slack_sdk: an OAuth token (chat.postMessage) or a webhook.

One message per device per run, the calibration report: deployment, device, timestamp, the
offsets, mode, success and the failure logs, led by a mark: an alert when any |offset|
exceeds ``slack.alert_threshold_deg`` (0.5 degrees by default), a failure mark when the run
failed, an ok mark otherwise.

A report that cannot be posted (Slack down, HTTP 429, ``ok: false``) is not lost: with a spool
(monitoring.spool) it is kept there, and the next run's ``replay_spool`` posts the waiting
reports first, oldest first, each led by a "delayed" line saying when and why it was held.
The result of ``send_report`` says whether the report went out and, if not, why; fleet runs
put both in the ``--json`` row (``notified``, ``notify_error``) and the history.

Tokens and webhook URLs never reach a log line or an error: slack_sdk gets a logger of ours
that drops its debug output, and every error message is built here from the HTTP status and
Slack's error code, then scrubbed of both secrets for good measure.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from camdeck.monitoring.errors import NotifyError
from camdeck.monitoring.history import MonitoringRecord
from camdeck.monitoring.spool import Spool
from camdeck.fastcore.extras import require_extra

log = logging.getLogger(__name__)

OK_MARK = ":white_check_mark:"
ALERT_MARK = ":rotating_light:"
FAILED_MARK = ":x:"
DELAYED_MARK = ":hourglass:"
NOT_CONFIGURED = "Slack is not configured; fix: set slack.token_env or slack.webhook_url_env"

# slack_sdk logs request bodies at DEBUG; ours stays quiet whatever the root logger says.
_sdk_logger = logging.getLogger("camdeck.slack_sdk")
_sdk_logger.setLevel(logging.WARNING)
_sdk_logger.propagate = False
_sdk_logger.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class NotifyResult:
    """Whether the message went out, and if not, why (secret-free) and whether it waits in the spool."""

    sent: bool
    error: str = ""
    spooled: bool = False


@dataclass
class SlackReplay:
    """What ``replay_spool`` did: reports posted late, reports still waiting, errors seen.

    ``delivered``: (deployment, device_id, timestamp) of each report posted, to mark in the history.
    """

    sent: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)
    delivered: list[tuple[str, str, str]] = field(default_factory=list)


def report_mark(record: MonitoringRecord, threshold_deg: float) -> str:
    """The message's leading mark: alert, failure or ok."""
    if not record.success:
        return FAILED_MARK
    return ALERT_MARK if record.is_alert(threshold_deg) else OK_MARK


def format_report(record: MonitoringRecord, threshold_deg: float) -> tuple[str, list[dict[str, Any]]]:
    """The calibration report as Slack ``text`` (fallback, notifications) and ``blocks``.

    Args:
        record: one device's result.
        threshold_deg: alert when any |offset| exceeds this, degrees.
    """
    mark = report_mark(record, threshold_deg)
    device = f"{record.deployment}/{record.device_id}"
    if not record.success:
        headline = f"{mark} camdeck calibration report: {device} FAILED"
    elif mark == ALERT_MARK:
        headline = f"{mark} camdeck calibration report: {device} moved (|offset| > {threshold_deg:g}°)"
    else:
        headline = f"{mark} camdeck calibration report: {device} ok"
    offsets = record.offsets_deg
    offsets_text = ("pitch {:+.3f}°, yaw {:+.3f}°, roll {:+.3f}°".format(*offsets) if offsets else "none")
    fields = [
        ("Deployment", record.deployment),
        ("Device", record.device_id),
        ("Timestamp", record.timestamp),
        ("Mode", record.mode),
        ("Offsets", offsets_text),
        ("Success", "yes" if record.success else "no"),
    ]
    if record.inliers is not None:
        fields.append(("Evidence", f"{record.frames or 0} frames, {record.inliers} inliers, "
                                   f"confidence {record.confidence or 0:.2f}"))
    lines = [headline] + [f"{name}: {value}" for name, value in fields]
    if record.failure_logs:
        lines.append(f"Failure logs: {record.failure_logs}")
    text = "\n".join(lines)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_escape(headline)}*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{_escape(str(value))}"}
                                       for name, value in fields]},
    ]
    if record.failure_logs:
        logs = record.failure_logs if len(record.failure_logs) < 2800 else record.failure_logs[:2800] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Failure logs*\n```{logs}```"}})
    return text, blocks


def delayed_report(entry: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A spooled report's ``text`` and ``blocks``, led by the "delayed" line (when, and why it waited)."""
    when = entry.get("timestamp") or "an earlier run"
    why = str(entry.get("error") or "Slack was unavailable").split("; fix:")[0]
    line = f"{DELAYED_MARK} delayed: this report of {when} could not be sent then ({why})"
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(line)}]}]
    return line + "\n" + str(entry.get("text", "")), blocks + list(entry.get("blocks") or [])


def _kind(spool: Spool, entry) -> str | None:
    try:
        return spool.load(entry).get("kind")
    except (OSError, ValueError):
        return None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier:
    """Posts calibration reports. A token (``slack.token``) wins over a webhook (``slack.webhook_url``).

    Args:
        slack: ``SlackSettings``; ``api_url`` overrides Slack's API base (tests, proxies).
        timeout_s: HTTP timeout per request.
        spool: where reports that cannot be posted wait for the next run (None: they are only logged).
    """

    def __init__(self, slack, timeout_s: float = 15.0, spool: Spool | None = None) -> None:
        self.settings = slack
        self.timeout_s = timeout_s
        self.spool = spool

    @property
    def enabled(self) -> bool:
        return bool(self.settings.token) or bool(self.settings.webhook_url)

    def send_report(self, record: MonitoringRecord) -> NotifyResult:
        """Post one device's report; never raises for Slack's failures (they come back as the result).

        Returns:
            ``NotifyResult(sent=False, error=..., spooled=True)`` when Slack refused or was
            unreachable and the report went to the spool (``spooled`` False when there is no
            spool or it could not be written: the error says so); ``error`` is
            :data:`NOT_CONFIGURED` when no token or webhook is configured.
        """
        if not self.enabled:
            return NotifyResult(False, NOT_CONFIGURED)
        text, blocks = format_report(record, self.settings.alert_threshold_deg)
        try:
            self.post(text, blocks)
        except NotifyError as err:
            message = self._scrub(str(err))
            spooled = False
            if self.spool is not None:
                try:
                    self.spool.put("slack", {"text": text, "blocks": blocks, "deployment": record.deployment,
                                             "device_id": record.device_id, "timestamp": record.timestamp,
                                             "error": message})
                    spooled = True
                except OSError as spool_err:
                    message += f"; and the spool cannot keep the report ({spool_err.strerror or spool_err})"
            log.warning("Slack: %s", message)
            return NotifyResult(False, message, spooled)
        return NotifyResult(True, "")

    def replay_spool(self) -> SlackReplay:
        """Post the reports earlier runs could not, oldest first, each marked as delayed.

        Stops at the first failure, so the order holds: that report and the later ones wait
        for the next run. Each report is claimed first (monitoring.spool), so runs sharing
        the spool never post one twice.
        """
        result = SlackReplay()
        if self.spool is None:
            return result
        if self.enabled:
            for claim in self.spool.claimed(["slack"]):
                text, blocks = delayed_report(claim.data)
                try:
                    self.post(text, blocks)
                except NotifyError as err:
                    claim.release()
                    result.errors.append(self._scrub(str(err)))
                    log.warning("Slack: %s; the delayed reports keep waiting", result.errors[-1])
                    break
                except BaseException:
                    claim.release()
                    raise
                claim.done()
                result.sent += 1
                data = claim.data
                result.delivered.append((str(data.get("deployment", "")), str(data.get("device_id", "")),
                                         str(data.get("timestamp", ""))))
        result.remaining = sum(1 for entry in self.spool.entries() if _kind(self.spool, entry) == "slack")
        return result

    def post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post a message to the configured channel or webhook.

        Raises:
            NotifyError: Slack answered with an error or could not be reached (secret-free message).
        """
        if self.settings.token:
            self._post_api(text, blocks)
        elif self.settings.webhook_url:
            self._post_webhook(text, blocks)
        else:
            raise NotifyError("Slack is not configured", "set slack.token_env or slack.webhook_url_env")

    def _post_api(self, text: str, blocks: list[dict[str, Any]] | None) -> None:
        WebClient = require_extra("slack_sdk", "Slack alerts ([slack])").WebClient
        SlackApiError = require_extra("slack_sdk.errors", "Slack alerts ([slack])").SlackApiError

        kwargs: dict[str, Any] = {"token": self.settings.token.reveal(), "timeout": int(max(1, self.timeout_s)),
                                  "logger": _sdk_logger}
        if self.settings.api_url:
            kwargs["base_url"] = self.settings.api_url.rstrip("/") + "/"
        client = WebClient(**kwargs)
        try:
            client.chat_postMessage(channel=self.settings.channel, text=text, blocks=blocks)
        except SlackApiError as err:
            response = getattr(err, "response", None)
            status = getattr(response, "status_code", None)
            code = ""
            try:
                code = str(response.get("error", "")) if response is not None else ""
            except Exception:  # a non-JSON body (a proxy's 502 page)
                code = ""
            if not code.replace("_", "").isalpha():
                code = ""                 # not a Slack error code: slack_sdk's note on a non-JSON body
            if status == 429:
                code = "ratelimited"      # whatever the body says (a proxy's page, or none)
            raise NotifyError(f"Slack chat.postMessage to {self.settings.channel} failed "
                              f"(HTTP {status}{', ' + code if code else ''})",
                              _fix_for(code)) from None
        except Exception as err:  # URLError, timeouts, connection refused
            raise NotifyError(f"Slack API unreachable ({err.__class__.__name__})",
                              "check the network or slack.api_url; the report waits in the spool for the next run") from None

    def _post_webhook(self, text: str, blocks: list[dict[str, Any]] | None) -> None:
        WebhookClient = require_extra("slack_sdk.webhook", "Slack alerts ([slack])").WebhookClient

        client = WebhookClient(self.settings.webhook_url.reveal(), timeout=int(max(1, self.timeout_s)),
                               logger=_sdk_logger)
        try:
            response = client.send(text=text, blocks=blocks)
        except Exception as err:
            raise NotifyError(f"Slack webhook unreachable ({err.__class__.__name__})",
                              "check the network and slack.webhook_url_env; the report waits in the spool for the next run") from None
        if response.status_code != 200:
            body = " ".join(str(response.body or "").split())[:80]
            raise NotifyError(f"Slack webhook answered HTTP {response.status_code}" + (f" ({body})" if body else ""),
                              "check that the webhook is still installed") from None

    def _scrub(self, text: str) -> str:
        for secret in (self.settings.token, self.settings.webhook_url):
            if secret and secret.reveal():
                text = text.replace(secret.reveal(), "***")
        return text


def _fix_for(code: str) -> str:
    return {
        "invalid_auth": "the token is wrong: set a valid bot token in slack.token_env",
        "not_authed": "no token reached Slack: set slack.token_env",
        "token_revoked": "the token was revoked: issue a new one",
        "channel_not_found": "check slack.channel and invite the bot to it",
        "not_in_channel": "invite the bot to slack.channel",
        "ratelimited": "Slack rate-limited the message; it waits in the spool and goes out with the next run",
    }.get(code, "check the Slack app's settings; the report waits in the spool for the next run")
