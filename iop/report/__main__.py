"""`python -m iop.report` (`make report`): rebuild the outcomes report from the working database
by running the Dagster job `outcomes_report` in-process on the local instance (so the UI shows the
materialization, its path and the KPI series by month)."""

from __future__ import annotations

import sys

from iop.settings import IopSettings


def run_report_job(settings: IopSettings, instance=None, *, log_level: str = "WARNING"):
    """The `outcomes_report` job, in-process; returns its ExecuteInProcessResult."""
    from iop.runner import dagster_instance
    from pipelines.definitions import defs

    return defs.resolve_job_def("outcomes_report").execute_in_process(
        instance=instance or dagster_instance(settings.data_path),
        resources={"settings": settings},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def main() -> int:
    settings = IopSettings.from_env()
    if not settings.warehouse_path.exists():
        print(f"No warehouse at {settings.warehouse_path}: run `make demo` (or a refresh) first.")
        return 1
    print(f"Building the outcomes report from {settings.warehouse_path} ...")
    result = run_report_job(settings)
    if not result.success:
        print("The report run failed (see the Dagster UI: make dev).")
        return 1
    print(f"Outcomes report: {settings.reports_dir / 'latest.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
