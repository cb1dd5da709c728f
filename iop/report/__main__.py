"""`python -m iop.report` (`make report`): rebuild the outcomes report from the working database."""

from __future__ import annotations

import sys

from iop.report import build_report
from iop.settings import IopSettings


def main() -> int:
    settings = IopSettings.from_env()
    if not settings.warehouse_path.exists():
        print(f"No warehouse at {settings.warehouse_path}: run `make demo` (or a refresh) first.")
        return 1
    report = build_report(settings)
    print(f"Outcomes report: {report.path}")
    print(f"Latest:          {report.latest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
