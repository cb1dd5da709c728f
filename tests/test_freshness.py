"""Freshness of the published marts (pipelines/freshness.py): a FreshnessPolicy from settings on
every mart and the publication, evaluated by Dagster's freshness daemon (PASS, WARN when late,
FAIL when stale), and a FAIL is alerted (pipelines/alerts.py)."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import pytest
from alert_receivers import Webhook
from conftest import TEST_KEY
from dagster import (
    AssetKey,
    DagsterEventType,
    EventRecordsFilter,
    build_sensor_context,
    materialize,
)

from iop.settings import IopSettings
from pipelines.freshness import marts_freshness_policy

ROOT = Path(__file__).resolve().parents[1]

TOY_DEFS = """
import dagster as dg

from iop.settings import IopSettings
from pipelines.freshness import with_freshness


@dg.asset(key=["marts", "toy"])
def toy():
    return 1


defs = dg.Definitions(assets=with_freshness([toy], IopSettings.from_env()))
"""


def test_policy_windows_come_from_settings(monkeypatch):
    policy = marts_freshness_policy(IopSettings(marts_freshness_hours=5))
    assert policy.fail_window.to_timedelta() == dt.timedelta(hours=5)
    assert policy.warn_window is None
    late = marts_freshness_policy(
        IopSettings(marts_freshness_hours=5, marts_freshness_warn_hours=2)
    )
    assert late.warn_window.to_timedelta() == dt.timedelta(hours=2)
    monkeypatch.setenv("IOP_MARTS_FRESHNESS_HOURS", "48")
    assert marts_freshness_policy(IopSettings.from_env()).fail_window.to_timedelta() == (
        dt.timedelta(hours=48)
    )


def test_every_mart_and_the_publication_have_the_policy(monkeypatch):
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
    from assets.publish import MART_KEYS
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    with_policy = {k for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy}
    assert with_policy == {*MART_KEYS, AssetKey(["publish", "marts_duckdb"])}
    assert len(MART_KEYS) >= 7
    expected = marts_freshness_policy(IopSettings.from_env())
    assert all(graph.get(k).freshness_policy == expected for k in with_policy)


def _states(instance) -> list[str]:
    records = instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.FRESHNESS_STATE_CHANGE), ascending=True
    )
    return [r.event_log_entry.dagster_event.event_specific_data.new_state.value for r in records]


def test_the_freshness_daemon_passes_warns_fails_and_the_failure_is_alerted(tmp_path, monkeypatch):
    import dagster._core.definitions.freshness_evaluator as evaluator
    from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.freshness import FreshnessDaemon

    from pipelines import alerts

    (tmp_path / "toy_freshness_defs.py").write_text(TOY_DEFS)
    monkeypatch.syspath_prepend(str(tmp_path))
    # the code server is a subprocess: it reads the thresholds and finds the project here
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{ROOT}")
    monkeypatch.setenv("IOP_MARTS_FRESHNESS_HOURS", "2")
    monkeypatch.setenv("IOP_MARTS_FRESHNESS_WARN_HOURS", "1")
    for name in [n for n in __import__("os").environ if n.startswith("IOP_ALERT_")]:
        monkeypatch.delenv(name)
    import toy_freshness_defs

    now = time.time()
    with instance_for_test() as instance, Webhook() as hook:
        target = ModuleTarget(
            module_name="toy_freshness_defs",
            attribute="defs",
            working_directory=str(tmp_path),
            location_name="toy",
        )
        with create_test_daemon_workspace_context(target, instance) as workspace:
            daemon = FreshnessDaemon()
            sensor_context = build_sensor_context(
                instance=instance, repository_def=toy_freshness_defs.defs.get_repository_def()
            )
            alerts.alert_on_check_failure(sensor_context)  # first tick: the cursor

            def evaluate_at(offset_hours: float) -> None:
                monkeypatch.setattr(
                    evaluator, "get_current_timestamp", lambda: now + offset_hours * 3600
                )
                list(daemon.run_iteration(workspace))

            materialize([toy_freshness_defs.toy], instance=instance)
            evaluate_at(0)
            evaluate_at(1.5)  # past the warning window
            evaluate_at(2.5)  # past the failure window
            assert _states(instance) == ["PASS", "WARN", "FAIL"]

            monkeypatch.setenv("IOP_ALERT_WEBHOOK_URL", hook.url)
            tick = alerts.alert_on_check_failure(
                build_sensor_context(
                    instance=instance,
                    cursor=sensor_context.cursor,
                    repository_def=toy_freshness_defs.defs.get_repository_def(),
                )
            )
            assert "1 stale asset(s)" in tick.skip_message
            text = hook.payloads[0]["text"]
            assert "marts/toy: freshness WARN -> FAIL" in text

            materialize([toy_freshness_defs.toy], instance=instance)
            evaluate_at(0.1)
            assert _states(instance)[-1] == "PASS"
    sys.modules.pop("toy_freshness_defs", None)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("IOP_PSEUDONYM_KEY", TEST_KEY)
