"""Alerts (pipelines/alerts.py): the run-failure and check-failure sensors notify a webhook and
SMTP, configured by environment, off when not configured, with no data values in messages.
Against local receivers on 127.0.0.1 (tests/alert_receivers.py)."""

from __future__ import annotations

import pytest
from alert_receivers import Smtp, Webhook
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    SkipReason,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from pipelines import alerts

# What a failing check or step might carry that must never leave the pipeline.
PERSON = "Jane Q Doe"
MEMBER_ID = "MCD000123456"


@asset(key=["marts", "toy"])
def toy():
    return 1


@asset_check(asset=toy, name="member_ids_match", blocking=False)
def failing_critical():
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "element_count": 120,
            "unexpected_count": 7,
            "unexpected_percent": 5.8333,
            "failing_sample": f"{PERSON}, {MEMBER_ID}",
            "observed_value": MEMBER_ID,
        },
    )


@asset_check(asset=toy, name="row_count_in_range", blocking=False)
def failing_warning():
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.WARN, metadata={"element_count": 3}
    )


@asset_check(asset=toy, name="keys_unique", blocking=False)
def passing():
    return AssetCheckResult(passed=True, metadata={"element_count": 120})


@asset(key=["marts", "breaks"])
def breaks():
    raise ValueError(f"row of {PERSON} ({MEMBER_ID}) could not be parsed")


@asset(key=["publish", "after_breaks"], deps=[breaks])
def after_breaks():
    return 1


REPO = Definitions(
    assets=[toy], asset_checks=[failing_critical, failing_warning, passing]
).get_repository_def()


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("IOP_ALERT_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _text(payload: dict) -> str:
    return str(payload)


def test_off_when_not_configured(clean_env):
    config = alerts.AlertConfig.from_env()
    assert not config.enabled
    assert alerts._status(config) == DefaultSensorStatus.STOPPED
    assert alerts.notify(config, "title", ["line"]) == []
    assert alerts._status(alerts.AlertConfig(webhook_url="http://127.0.0.1:9/x")).value == (
        "RUNNING"
    )
    # SMTP needs a host and a recipient
    assert not alerts.AlertConfig.from_env({"IOP_ALERT_SMTP_HOST": "localhost"}).enabled
    assert alerts.AlertConfig.from_env(
        {"IOP_ALERT_SMTP_HOST": "localhost", "IOP_ALERT_SMTP_TO": "a@x.org, b@x.org"}
    ).smtp_to == ("a@x.org", "b@x.org")


def test_run_failure_is_sent_to_webhook_and_smtp_without_the_error_text(clean_env):
    instance = DagsterInstance.ephemeral()
    result = materialize([breaks, after_breaks], instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    with Webhook() as hook, Smtp() as smtp:
        clean_env.setenv("IOP_ALERT_WEBHOOK_URL", hook.url)
        clean_env.setenv("IOP_ALERT_SMTP_HOST", "127.0.0.1")
        clean_env.setenv("IOP_ALERT_SMTP_PORT", str(smtp.port))
        clean_env.setenv("IOP_ALERT_SMTP_TO", "quality@example.org")
        context = build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        alerts.alert_on_run_failure(context)
    assert len(hook.payloads) == 1 and len(smtp.messages) == 1
    text = hook.payloads[0]["text"]
    job_name = result.dagster_run.job_name
    assert f"Job: {job_name}" in text and result.run_id in text
    assert "Failed steps: marts__breaks" in text
    assert "Assets not materialized (2): marts/breaks, publish/after_breaks" in text
    mail = smtp.messages[0]
    assert f"Subject: IOP pipeline: run of {job_name} failed" in mail
    assert result.run_id in mail and "breaks" in mail
    assert smtp.recipients == [["quality@example.org"]]
    for sent in (text, mail):
        assert PERSON not in sent and MEMBER_ID not in sent and "could not be parsed" not in sent


def test_check_failures_are_sent_with_counts_and_never_a_sample(clean_env, tmp_path):
    # a SQLite instance like `make dev`'s (its check events are sharded per run)
    instance = DagsterInstance.local_temp(str(tmp_path))
    checks = [toy, failing_critical, failing_warning, passing]
    materialize(checks, instance=instance)  # history before the sensor starts
    with Webhook() as hook:
        clean_env.setenv("IOP_ALERT_WEBHOOK_URL", hook.url)
        context = build_sensor_context(instance=instance, repository_def=REPO)
        first = alerts.alert_on_check_failure(context)
        assert isinstance(first, SkipReason) and "first tick" in first.skip_message
        assert hook.payloads == []  # no alert about results older than the sensor
        first_cursor = context.cursor
        assert first_cursor
        quiet = alerts.alert_on_check_failure(
            build_sensor_context(instance, cursor=first_cursor, repository_def=REPO)
        )
        assert "no new" in quiet.skip_message

        run = materialize(checks, instance=instance)
        tick = alerts.alert_on_check_failure(
            build_sensor_context(instance, cursor=first_cursor, repository_def=REPO)
        )
        assert "1 failed check(s)" in tick.skip_message
        assert len(hook.payloads) == 1
        text = hook.payloads[0]["text"]
        assert "marts/toy / member_ids_match (error)" in text
        assert "element_count 120" in text and "unexpected_count 7" in text
        assert "unexpected_percent 5.8333" in text and run.run_id in text
        assert "row_count_in_range" not in text and "keys_unique" not in text
        assert PERSON not in text and MEMBER_ID not in text

        # every failed check with IOP_ALERT_CHECK_SEVERITY=warn, as a Teams card
        clean_env.setenv("IOP_ALERT_CHECK_SEVERITY", "warn")
        clean_env.setenv("IOP_ALERT_WEBHOOK_FORMAT", "teams")
        alerts.alert_on_check_failure(
            build_sensor_context(instance, cursor=first_cursor, repository_def=REPO)
        )
        card = hook.payloads[1]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        lines = [block["text"] for block in card["content"]["body"]]
        assert lines[0] == "IOP pipeline: 2 check(s) failed"
        assert any("row_count_in_range (warn)" in line for line in lines)
        assert PERSON not in _text(hook.payloads[1]) and MEMBER_ID not in _text(hook.payloads[1])


def test_a_failing_channel_does_not_stop_the_other_and_is_reported(clean_env):
    with Webhook(status=500) as hook, Smtp() as smtp:
        config = alerts.AlertConfig(
            webhook_url=hook.url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_to=("q@x.org",)
        )
        with pytest.raises(RuntimeError, match="alert not delivered"):
            alerts.notify(config, "IOP pipeline: test", ["one line"])
    assert len(hook.payloads) == 1 and len(smtp.messages) == 1
