"""Alerts: a run-failure sensor and a check-failure sensor that notify a webhook and/or SMTP.

Configured by environment (documented in `.env.example`); with neither a webhook nor an SMTP
host set, both sensors are off (stopped by default, and a tick sends nothing):

    IOP_ALERT_WEBHOOK_URL        incoming-webhook URL (Slack, or Microsoft Teams)
    IOP_ALERT_WEBHOOK_FORMAT     slack (default: {"text": ...}, which Slack and Teams' legacy
                                 connectors take) or teams (an Adaptive Card, for Teams workflows)
    IOP_ALERT_SMTP_HOST, IOP_ALERT_SMTP_PORT (25), IOP_ALERT_SMTP_STARTTLS (0/1),
    IOP_ALERT_SMTP_USER, IOP_ALERT_SMTP_PASSWORD, IOP_ALERT_SMTP_FROM,
    IOP_ALERT_SMTP_TO (a comma-separated list)
    IOP_ALERT_CHECK_SEVERITY     error (default: critical checks only) or warn (every failed check)

Messages name the job, run, failed steps, asset, check and counts (rows checked, rows
unexpected), never a value from the data: no error text, no failing sample, no observed value
(those can hold a person's data).
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

# Freshness state changes are not exported at the top level of dagster 1.13.
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
MAX_LISTED = 20  # asset names listed in a run-failure message
# Check metadata that may go into a message: counts and thresholds only.
CHECK_COUNTS = ("element_count", "unexpected_count", "unexpected_percent", "threshold_percent")


@dataclass(frozen=True)
class AlertConfig:
    webhook_url: str = ""
    webhook_format: str = "slack"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = "iop-pipeline@localhost"
    smtp_to: tuple[str, ...] = ()
    check_severity: str = "error"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertConfig:
        env = os.environ if environ is None else environ
        return cls(
            webhook_url=env.get("IOP_ALERT_WEBHOOK_URL", "").strip(),
            webhook_format=env.get("IOP_ALERT_WEBHOOK_FORMAT", "slack").strip().lower(),
            smtp_host=env.get("IOP_ALERT_SMTP_HOST", "").strip(),
            smtp_port=int(env.get("IOP_ALERT_SMTP_PORT") or 25),
            smtp_starttls=env.get("IOP_ALERT_SMTP_STARTTLS", "0") == "1",
            smtp_user=env.get("IOP_ALERT_SMTP_USER", ""),
            smtp_password=env.get("IOP_ALERT_SMTP_PASSWORD", ""),
            smtp_from=env.get("IOP_ALERT_SMTP_FROM") or "iop-pipeline@localhost",
            smtp_to=tuple(
                a.strip() for a in env.get("IOP_ALERT_SMTP_TO", "").split(",") if a.strip()
            ),
            check_severity=env.get("IOP_ALERT_CHECK_SEVERITY", "error").strip().lower(),
        )

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host and self.smtp_to)

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url) or self.smtp_enabled


def webhook_payload(config: AlertConfig, title: str, lines: Sequence[str]) -> dict:
    if config.webhook_format == "teams":
        body = [{"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True}]
        body += [{"type": "TextBlock", "text": line, "wrap": True} for line in lines]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                    },
                }
            ],
        }
    return {"text": "\n".join([f"*{title}*", *lines])}


def notify(config: AlertConfig, title: str, lines: Sequence[str]) -> list[str]:
    """Send the alert to every configured channel; returns the channels it went to. A channel
    that fails does not stop the other; the first error is raised after both were tried."""
    sent: list[str] = []
    errors: list[Exception] = []
    if config.webhook_url:
        try:
            request = urllib.request.Request(
                config.webhook_url,
                data=json.dumps(webhook_payload(config, title, lines)).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
            sent.append("webhook")
        except Exception as error:  # noqa: BLE001 - reported after the other channel
            errors.append(error)
    if config.smtp_enabled:
        try:
            message = EmailMessage()
            message["Subject"] = title
            message["From"] = config.smtp_from
            message["To"] = ", ".join(config.smtp_to)
            message.set_content("\n".join(lines) + "\n")
            with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
                if config.smtp_starttls:
                    smtp.starttls()
                if config.smtp_user:
                    smtp.login(config.smtp_user, config.smtp_password)
                smtp.send_message(message)
            sent.append("smtp")
        except Exception as error:  # noqa: BLE001
            errors.append(error)
    if errors:
        raise RuntimeError(f"alert not delivered ({type(errors[0]).__name__})") from errors[0]
    return sent


def run_failure_message(context: RunFailureSensorContext) -> tuple[str, list[str]]:
    run = context.dagster_run
    failed_steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    title = f"IOP pipeline: run of {run.job_name} failed"
    lines = [
        f"Job: {run.job_name}",
        f"Run: {run.run_id}",
        f"Failed steps: {', '.join(failed_steps) or 'none (the run failed outside a step)'}",
    ]
    # planned in the run but not materialized: the failed steps' assets and those downstream
    planned, done = set(), set()
    for entry in context.instance.all_logs(
        run.run_id,
        of_type={
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            DagsterEventType.ASSET_MATERIALIZATION,
        },
    ):
        event = entry.dagster_event
        if event and event.asset_key:
            is_planned = event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED
            (planned if is_planned else done).add(event.asset_key.to_user_string())
    not_materialized = sorted(planned - done)
    if not_materialized:
        shown = ", ".join(not_materialized[:MAX_LISTED])
        more = len(not_materialized) - MAX_LISTED
        lines.append(
            f"Assets not materialized ({len(not_materialized)}): {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    error = context.failure_event.event_specific_data
    error_class = getattr(getattr(error, "error", None), "cls_name", None)
    if error_class:
        lines.append(f"Error type: {error_class} (details in the Dagster UI)")
    return title, lines


def check_failure_message(
    failures: Sequence[tuple[str, AssetCheckEvaluation]],
) -> tuple[str, list[str]]:
    """One message for the failed checks of one sensor tick (run id, evaluation)."""
    runs = sorted({run_id for run_id, _ in failures})
    title = f"IOP pipeline: {len(failures)} check(s) failed"
    lines = [f"Run(s): {', '.join(runs)}"]
    for _, evaluation in failures:
        counts = []
        for key in CHECK_COUNTS:
            value = evaluation.metadata.get(key)
            raw = getattr(value, "value", value)
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                counts.append(f"{key} {raw:g}")
        lines.append(
            f"{evaluation.asset_key.to_user_string()} / {evaluation.check_name} "
            f"({evaluation.severity.value.lower()})" + (f": {', '.join(counts)}" if counts else "")
        )
    return title, lines


def _status(config: AlertConfig) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if config.enabled else DefaultSensorStatus.STOPPED


_LOAD_CONFIG = AlertConfig.from_env()


@run_failure_sensor(
    name="alert_on_run_failure",
    default_status=_status(_LOAD_CONFIG),
    description="Notifies the webhook / SMTP of .env.example (IOP_ALERT_*) when a run fails: "
    "job, run id, failed steps. Off when neither is configured.",
)
def alert_on_run_failure(context: RunFailureSensorContext):
    config = AlertConfig.from_env()
    if not config.enabled:
        context.log.info("alerts not configured (IOP_ALERT_WEBHOOK_URL / IOP_ALERT_SMTP_HOST)")
        return
    title, lines = run_failure_message(context)
    notify(config, title, lines)


def freshness_failure_message(failures: Sequence[FreshnessStateChange]) -> tuple[str, list[str]]:
    title = f"IOP pipeline: {len(failures)} asset(s) stale"
    lines = [
        f"{change.key.to_user_string()}: freshness {change.previous_state.value} -> FAIL "
        "(not materialized within IOP_MARTS_FRESHNESS_HOURS)"
        for change in failures
    ]
    return title, lines


def _new_stale_records(context: SensorEvaluationContext, after: int | None):
    """Freshness state changes after storage id `after` (asset events: indexed across runs)."""
    return list(
        context.instance.get_event_records(
            EventRecordsFilter(
                event_type=DagsterEventType.FRESHNESS_STATE_CHANGE, after_cursor=after
            ),
            ascending=True,
            limit=1000,
        )
    )


def _new_check_records(context: SensorEvaluationContext, after: int | None) -> list:
    """The latest execution of each check of the code location, when newer than record id
    `after` (asset_check_executions ids grow across runs, on every event log storage; check
    evaluation events themselves are run-sharded in the default SQLite storage)."""
    repository = context.repository_def
    if repository is None:
        return []
    keys = list(repository.asset_graph.asset_check_keys)
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    return sorted((r for r in latest.values() if after is None or r.id > after), key=lambda r: r.id)


@sensor(
    name="alert_on_check_failure",
    minimum_interval_seconds=60,
    default_status=_status(_LOAD_CONFIG),
    description="Notifies the webhook / SMTP of .env.example (IOP_ALERT_*) when asset checks "
    "fail (critical ones; every one with IOP_ALERT_CHECK_SEVERITY=warn): asset, check, counts; "
    "and when a published mart turns stale (its freshness policy FAILs). Off when neither is "
    "configured.",
)
def alert_on_check_failure(context: SensorEvaluationContext):
    config = AlertConfig.from_env()
    cursors: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    first_tick = not context.cursor
    checks = _new_check_records(context, cursors.get("checks"))
    stale = _new_stale_records(context, cursors.get("freshness"))
    if checks:
        cursors["checks"] = checks[-1].id
    if stale:
        cursors["freshness"] = stale[-1].storage_id
    # The first tick only marks where the history ends: no alert about old results.
    context.update_cursor(json.dumps({k: cursors.get(k, 0) for k in ("checks", "freshness")}))
    if first_tick:
        return SkipReason("first tick: starting after the existing check and freshness results")
    if not checks and not stale:
        return SkipReason("no new check or freshness results")
    if not config.enabled:
        return SkipReason("alerts not configured (IOP_ALERT_WEBHOOK_URL / IOP_ALERT_SMTP_HOST)")
    wanted = {AssetCheckSeverity.ERROR}
    if config.check_severity == "warn":
        wanted.add(AssetCheckSeverity.WARN)
    failed_checks = []
    for record in checks:
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        if (
            isinstance(evaluation, AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.severity in wanted
        ):
            failed_checks.append((record.run_id, evaluation))
    stale_assets = [
        change
        for record in stale
        if isinstance(
            change := record.event_log_entry.dagster_event.event_specific_data,
            FreshnessStateChange,
        )
        and change.new_state == FreshnessState.FAIL
    ]
    sent: list[str] = []
    if failed_checks:
        sent += notify(config, *check_failure_message(failed_checks))
    if stale_assets:
        sent += notify(config, *freshness_failure_message(stale_assets))
    if not sent:
        return SkipReason(f"{len(checks) + len(stale)} new result(s), none failed")
    return SkipReason(
        f"alerted ({', '.join(sorted(set(sent)))}): {len(failed_checks)} failed check(s), "
        f"{len(stale_assets)} stale asset(s)"
    )


alert_sensors = [alert_on_run_failure, alert_on_check_failure]
