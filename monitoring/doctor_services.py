"""`camdeck doctor` checks of the fleet's services, each only when configured: Slack, S3, Athena.

- Slack: ``auth.test`` with the configured token (the same call Slack's own tools use to say
  whether a token works); a webhook cannot be checked without posting, so it is skipped.
- S3: ``HeadBucket`` on ``storage.s3_bucket`` (exists, and these credentials may use it).
- Athena: ``GetWorkGroup`` on ``storage.athena_workgroup`` ("primary" when unset: enabled?), and
  the query output location (``storage.athena_output``, else the workgroup's own): set, and its
  bucket reachable.

A configured service that fails is *required* (the CLI exits 1): fleet runs would spool
everything for it. Messages name the setting and the service's error code, never a secret.
"""
from __future__ import annotations

from typing import Any

from camdeck.monitoring.doctor import MISSING, OK, SKIPPED, Finding

SLACK_TIMEOUT_S = 5


def check_services(settings: Any) -> list[Finding]:
    """Slack, S3 and Athena findings for ``settings`` (console.config.Settings)."""
    storage = settings.storage
    return [check_slack(settings.slack), check_s3(storage, settings.data_dir),
            check_athena(storage, settings.data_dir)]


# ---------------------------------------------------------------- Slack

def check_slack(slack) -> Finding:
    """``auth.test`` with ``slack.token``; skipped without a token (a webhook is not checked)."""
    from camdeck.fastcore.extras import MissingExtra, require_extra
    from camdeck.monitoring.notify import _fix_for, _sdk_logger

    if not slack.token:
        if slack.webhook_url:
            return Finding("slack", SKIPPED, "a webhook is configured; it cannot be checked without posting",
                           "set slack.token_env to a bot token to have doctor check it (auth.test)")
        return Finding("slack", SKIPPED, "Slack is not configured (no slack.token_env or slack.webhook_url_env)")
    try:
        WebClient = require_extra("slack_sdk", "Slack alerts ([slack])").WebClient
        SlackApiError = require_extra("slack_sdk.errors", "Slack alerts ([slack])").SlackApiError
    except MissingExtra as err:
        return Finding("slack", MISSING, str(err).split("; fix:")[0], "pip install 'camdeck[fleet]'", True)
    kwargs: dict[str, Any] = {"token": slack.token.reveal(), "timeout": SLACK_TIMEOUT_S, "logger": _sdk_logger}
    if slack.api_url:
        kwargs["base_url"] = slack.api_url.rstrip("/") + "/"
    try:
        reply = WebClient(**kwargs).auth_test()
    except SlackApiError as err:
        response = getattr(err, "response", None)
        status = getattr(response, "status_code", None)
        try:
            code = str(response.get("error", "")) if response is not None else ""
        except Exception:  # a non-JSON body
            code = ""
        code = code if code.replace("_", "").isalpha() else ""
        return Finding("slack", MISSING, f"Slack auth.test refused the token (HTTP {status}"
                       f"{', ' + code if code else ''})", _fix_for(code), True)
    except Exception as err:  # URLError, timeouts, connection refused
        return Finding("slack", MISSING, f"Slack API unreachable ({type(err).__name__})",
                       "check the network, a proxy, or slack.api_url", True)
    who = " ".join(f"{k} {reply.get(k)}" for k in ("team", "user") if reply.get(k))
    return Finding("slack", OK, f"Slack accepts the token ({who or 'auth.test ok'}); reports go to "
                   f"{slack.channel}", required=True)


# ---------------------------------------------------------------- S3 and Athena

def _store(storage, data_dir):
    from camdeck.monitoring.cloud import CloudStore

    return CloudStore(storage, data_dir)


def _aws_code(err: BaseException) -> str:
    from camdeck.monitoring.cloud import _describe

    return _describe(err)


def check_s3(storage, data_dir) -> Finding:
    """HeadBucket on ``storage.s3_bucket``; skipped when no bucket is configured."""
    from camdeck.fastcore.extras import MissingExtra
    from camdeck.monitoring.errors import MonitoringError

    if not storage.s3_bucket:
        return Finding("s3", SKIPPED, "S3 is not configured (storage.s3_bucket is empty)")
    try:
        client = _store(storage, data_dir)._client("s3")
        client.head_bucket(Bucket=storage.s3_bucket)
    except MissingExtra as err:
        return Finding("s3", MISSING, str(err).split("; fix:")[0], "pip install 'camdeck[fleet]'", True)
    except MonitoringError as err:
        return Finding("s3", MISSING, err.message, err.fix, True)
    except Exception as err:  # botocore raises many types
        return Finding("s3", MISSING, f"S3 bucket {storage.s3_bucket} not usable ({_aws_code(err)})",
                       _s3_fix(_aws_code(err), "storage.s3_bucket"), True)
    return Finding("s3", OK, f"S3 bucket {storage.s3_bucket} exists and answers", required=True)


def _s3_fix(code: str, setting: str) -> str:
    if code.startswith(("404", "NoSuchBucket")):
        return f"create the bucket or correct {setting}"
    if code.startswith(("403", "AccessDenied")):
        return "give these credentials s3:ListBucket and s3:PutObject on the bucket"
    return "check storage.s3_endpoint_url, storage.region, the network and the AWS credentials"


def check_athena(storage, data_dir) -> Finding:
    """The workgroup exists and is enabled, and query results have a reachable output location."""
    from camdeck.fastcore.extras import MissingExtra
    from camdeck.monitoring.errors import MonitoringError

    if not storage.athena_database:
        return Finding("athena", SKIPPED, "Athena is not configured (storage.athena_database is empty)")
    name = storage.athena_workgroup or "primary"
    try:
        store = _store(storage, data_dir)
        reply = store._client("athena").get_work_group(WorkGroup=name)
    except MissingExtra as err:
        return Finding("athena", MISSING, str(err).split("; fix:")[0], "pip install 'camdeck[fleet]'", True)
    except MonitoringError as err:
        return Finding("athena", MISSING, err.message, err.fix, True)
    except Exception as err:
        code = _aws_code(err)
        fix = (f"create workgroup {name} or correct storage.athena_workgroup" if "InvalidRequest" in code
               else "check storage.region, AWS_ENDPOINT_URL_ATHENA, the network and the AWS credentials")
        return Finding("athena", MISSING, f"Athena workgroup {name} not usable ({code})", fix, True)
    group = reply.get("WorkGroup")
    if not group:
        return Finding("athena", MISSING, f"Athena workgroup {name} does not exist",
                       f"create it or correct storage.athena_workgroup", True)
    if group.get("State", "ENABLED") != "ENABLED":
        return Finding("athena", MISSING, f"Athena workgroup {name} is {group.get('State', '').lower()}",
                       "enable it in the Athena console or choose another storage.athena_workgroup", True)
    config = group.get("Configuration") or {}
    own = (config.get("ResultConfiguration") or {}).get("OutputLocation", "")
    output = own if config.get("EnforceWorkGroupConfiguration") and own else (storage.athena_output or own)
    if not output:
        return Finding("athena", MISSING, f"Athena has no query output location (storage.athena_output is "
                       f"empty and workgroup {name} sets none)",
                       "set storage.athena_output = \"s3://BUCKET/athena-results/\"", True)
    bucket = output.removeprefix("s3://").split("/", 1)[0]
    if not output.startswith("s3://") or not bucket:
        return Finding("athena", MISSING, f"Athena output location {output!r} is not an s3:// URI",
                       "write it as s3://BUCKET/PREFIX/", True)
    try:
        store._client("s3").head_bucket(Bucket=bucket)
    except Exception as err:
        code = _aws_code(err)
        return Finding("athena", MISSING, f"Athena output location {output}: bucket {bucket} not usable ({code})",
                       _s3_fix(code, "storage.athena_output"), True)
    return Finding("athena", OK, f"Athena workgroup {name} is enabled; results go to {output}", required=True)
