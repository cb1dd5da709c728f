"""Freshness of the published marts: every mart and the publication itself must have been
materialized within IOP_MARTS_FRESHNESS_HOURS (default 26: a nightly refresh and some slack);
past IOP_MARTS_FRESHNESS_WARN_HOURS (default: none) they are marked late (warn).

Dagster's `FreshnessPolicy.time_window` on the asset specs: the current API in Dagster 1.13
(`build_last_update_freshness_checks` and its sensor are superseded by it). Dagster's freshness
daemon (part of `dagster dev` and `dagster-daemon`; on unless dagster.yaml sets
`freshness: enabled: false`) evaluates the policies every 30 s and records each change of state
(PASS, WARN, FAIL); the UI shows the state on the asset and in the catalog, and the alert sensor
(pipelines/alerts.py) reports a mart turning FAIL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dagster import AssetsDefinition, FreshnessPolicy, map_asset_specs

from iop.settings import IopSettings


def marts_freshness_policy(settings: IopSettings) -> FreshnessPolicy:
    warn = settings.marts_freshness_warn_hours
    return FreshnessPolicy.time_window(
        fail_window=dt.timedelta(hours=settings.marts_freshness_hours),
        warn_window=dt.timedelta(hours=warn) if 0 < warn < settings.marts_freshness_hours else None,
    )


def with_freshness(
    assets: Sequence[AssetsDefinition], settings: IopSettings | None = None
) -> list[AssetsDefinition]:
    """`assets` (the marts' dbt step, the publication) with the freshness policy of `settings`
    (default: the environment's) on every mart and the publication (not on the intermediate
    tables the marts step builds for them, which no one reads)."""
    policy = marts_freshness_policy(settings or IopSettings.from_env())

    def with_policy(spec):
        if spec.key.path[0] == "intermediate":
            return spec
        return spec.replace_attributes(freshness_policy=policy)

    return list(map_asset_specs(with_policy, assets))
