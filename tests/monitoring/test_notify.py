"""Slack reports against a local HTTP server that answers as Slack's Web API and as a webhook."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from camdeck.drivers.base import Secret
from camdeck.monitoring.history import MonitoringRecord
from camdeck.monitoring.notify import (ALERT_MARK, DELAYED_MARK, FAILED_MARK, OK_MARK, SlackNotifier,
                                      format_report)
from camdeck.monitoring.spool import Spool
from camdeck.monitoring.settings import SlackSettings
from tests.conftest import free_port

TOKEN = "xoxb-123456-SECRET-token"
HOOK_PATH = "/services/T000/B000/SECRETHOOK"


class FakeSlack:
    """Answers chat.postMessage like Slack ({"ok": true, ...}) or as told: an error code or an HTTP status."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answer_error = ""        # Slack error code, e.g. "channel_not_found"
        self.answer_status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                body = json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else \
                    {k: v[0] for k, v in parse_qs(raw).items()}
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization", ""), "body": body})
                if fake.answer_status != 200:
                    self._send(fake.answer_status, "text/html", b"<html>upstream failure</html>")
                elif self.path.startswith("/services/"):
                    self._send(200, "text/plain", b"ok")
                elif fake.answer_error:
                    self._send(200, "application/json", json.dumps({"ok": False, "error": fake.answer_error}).encode())
                else:
                    self._send(200, "application/json",
                               json.dumps({"ok": True, "channel": "C123", "ts": "1700000000.000100",
                                           "message": {"text": body.get("text", "")}}).encode())

            def _send(self, status, kind, payload):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)     # the OS picks the port: no race
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


def _record(pitch=0.1, yaw=-0.2, roll=0.3, success=True, logs=""):
    return MonitoringRecord(deployment="sim-site", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z",
                            pitch_offset_deg=pitch if success else None, yaw_offset_deg=yaw if success else None,
                            roll_offset_deg=roll if success else None, mode="active", success=success,
                            failure_logs=logs, frames=3, inliers=800, confidence=0.95)


def _api(slack: FakeSlack, **kw) -> SlackNotifier:
    return SlackNotifier(SlackSettings(channel="#ops", token=Secret(TOKEN), api_url=slack.url + "/api", **kw),
                         timeout_s=5)


def test_the_report_reaches_chat_post_message_with_every_field(slack):
    result = _api(slack).send_report(_record())
    assert result.sent and result.error == ""
    [request] = slack.requests
    assert request["path"] == "/api/chat.postMessage"
    assert request["auth"] == f"Bearer {TOKEN}"
    body = request["body"]
    assert body["channel"] == "#ops"
    text = body["text"]
    assert text.startswith(OK_MARK)
    for field in ("sim-site", "ptz-1", "2026-11-21T10:00:00Z", "pitch +0.100°", "yaw -0.200°", "roll +0.300°",
                  "Mode: active", "Success: yes"):
        assert field in text
    assert isinstance(body["blocks"], list) and body["blocks"]


def test_an_offset_over_the_threshold_carries_the_alert_mark(slack):
    notifier = _api(slack)
    assert notifier.send_report(_record(yaw=-0.6)).sent
    assert notifier.send_report(_record(pitch=0.5, yaw=0.5, roll=-0.5)).sent
    assert slack.requests[0]["body"]["text"].startswith(ALERT_MARK)
    assert slack.requests[1]["body"]["text"].startswith(OK_MARK)      # 0.5 is not over 0.5
    strict = _api(slack, alert_threshold_deg=0.2)
    assert strict.send_report(_record()).sent
    assert slack.requests[2]["body"]["text"].startswith(ALERT_MARK)


def test_a_failed_run_reports_its_failure_logs(slack):
    assert _api(slack).send_report(_record(success=False, logs="query: 3 matches, 25 needed")).sent
    text = slack.requests[0]["body"]["text"]
    assert text.startswith(FAILED_MARK) and "Success: no" in text
    assert "query: 3 matches, 25 needed" in text and "Offsets: none" in text


@pytest.mark.parametrize("error, status", [("channel_not_found", 200), ("invalid_auth", 200), ("", 503)])
def test_slack_errors_come_back_as_a_result_without_the_token(slack, caplog, error, status):
    slack.answer_error, slack.answer_status = error, status
    caplog.set_level(logging.DEBUG)
    result = _api(slack).send_report(_record())
    assert not result.sent
    assert (error or str(status)) in result.error
    assert TOKEN not in result.error and "SECRET" not in caplog.text
    assert "SECRET" not in " ".join(r.getMessage() for r in caplog.records)


def test_unreachable_slack_is_logged_and_not_raised(caplog):
    caplog.set_level(logging.DEBUG)
    notifier = SlackNotifier(SlackSettings(token=Secret(TOKEN), api_url=f"http://127.0.0.1:{free_port()}/api"),
                             timeout_s=2)
    result = notifier.send_report(_record())
    assert not result.sent and "unreachable" in result.error
    assert "SECRET" not in caplog.text and "SECRET" not in result.error


def test_a_webhook_gets_the_same_report_and_its_url_stays_secret(slack, caplog):
    caplog.set_level(logging.DEBUG)
    hook = Secret(slack.url + HOOK_PATH)
    notifier = SlackNotifier(SlackSettings(webhook_url=hook), timeout_s=5)
    assert notifier.send_report(_record(roll=2.0)).sent
    assert slack.requests[0]["path"] == HOOK_PATH
    assert slack.requests[0]["body"]["text"].startswith(ALERT_MARK)
    slack.answer_status = 500
    result = notifier.send_report(_record())
    assert not result.sent and "HTTP 500" in result.error
    assert "SECRETHOOK" not in result.error and "SECRETHOOK" not in caplog.text


def test_without_token_or_webhook_nothing_is_sent_and_the_result_says_why(tmp_path):
    spool = Spool(tmp_path / "spool")
    result = SlackNotifier(SlackSettings(), spool=spool).send_report(_record())
    assert (result.sent, result.spooled) == (False, False)
    assert "not configured" in result.error and "slack.token_env" in result.error
    assert spool.pending() == 0


@pytest.mark.parametrize("fault", ["down", "429", "ok-false"])
def test_a_report_slack_refused_is_spooled_and_the_next_run_posts_it_marked_delayed(slack, tmp_path, fault):
    spool = Spool(tmp_path / "spool")
    if fault == "down":
        notifier = SlackNotifier(SlackSettings(channel="#ops", token=Secret(TOKEN),
                                               api_url=f"http://127.0.0.1:{free_port()}/api"), 2, spool)
    else:
        notifier = SlackNotifier(SlackSettings(channel="#ops", token=Secret(TOKEN), api_url=slack.url + "/api"),
                                 5, spool)
        slack.answer_status, slack.answer_error = (429, "") if fault == "429" else (200, "invalid_auth")
    first = notifier.send_report(_record(yaw=0.7, logs=""))
    second = notifier.send_report(_record(yaw=0.1))
    assert not first.sent and first.spooled and second.spooled
    assert {"down": "unreachable", "429": "HTTP 429", "ok-false": "invalid_auth"}[fault] in first.error
    assert TOKEN not in first.error and spool.pending() == 2
    # Slack is back: the next run posts both, oldest first, each led by the delayed line.
    slack.requests.clear()
    slack.answer_status, slack.answer_error = 200, ""
    back = _api(slack)
    back.spool = spool
    replay = back.replay_spool()
    assert (replay.sent, replay.remaining) == (2, 0) and spool.pending() == 0
    texts = [r["body"]["text"] for r in slack.requests]
    assert [t.split("\n")[0].startswith(DELAYED_MARK + " delayed: this report of 2026-11-21T10:00:00Z") for t in texts] \
        == [True, True]
    assert ALERT_MARK in texts[0].split("\n")[1] and "yaw +0.700°" in texts[0]       # in order: the alert first
    assert OK_MARK in texts[1].split("\n")[1] and "yaw +0.100°" in texts[1]
    assert slack.requests[0]["body"]["blocks"][0]["type"] == "context"
    assert replay.delivered == [("sim-site", "ptz-1", "2026-11-21T10:00:00Z")] * 2


def test_a_replay_stops_at_the_first_failure_and_keeps_the_order(slack, tmp_path):
    spool = Spool(tmp_path / "spool")
    notifier = _api(slack)
    notifier.spool = spool
    slack.answer_error = "ratelimited"
    for yaw in (0.1, 0.2, 0.3):
        assert notifier.send_report(_record(yaw=yaw)).spooled
    replay = notifier.replay_spool()          # still refused: nothing is lost, nothing reordered
    assert (replay.sent, replay.remaining) == (0, 3) and "ratelimited" in replay.errors[0]
    slack.answer_error = ""
    slack.requests.clear()
    assert notifier.replay_spool().sent == 3
    assert [r["body"]["text"].split("yaw ")[1][:6] for r in slack.requests] == ["+0.100", "+0.200", "+0.300"]


def test_report_text_is_plain_and_blocks_escape_markup():
    text, blocks = format_report(MonitoringRecord(deployment="a<b>", device_id="c&d", timestamp="t",
                                                  success=False, failure_logs="x"), 0.5)
    assert "a<b>/c&d" in text
    assert "a&lt;b&gt;/c&amp;d" in json.dumps(blocks)
