"""`iop-generate`: command-line entry point of the synthetic data generator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iop.generator.build import generate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="iop-generate",
        description="Generate synthetic IOP attendance, roster, census and claims landing files "
        "plus ground truth (see docs/input_layouts.md).",
    )
    p.add_argument("--clients", type=int, required=True, help="EHR clients (roster size)")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    p.add_argument("--out", type=Path, required=True, help="output folder (landing/, truth/ ...)")
    p.add_argument("--start", default="2024-01-01", help="first day of the window (ISO)")
    p.add_argument("--end", default="2025-12-31", help="last day of the window (ISO)")
    p.add_argument(
        "--claims-only-members",
        type=int,
        default=None,
        help="payer members in no roster (default clients // 4)",
    )
    p.add_argument(
        "--noise-claim-lines-per-member",
        type=int,
        default=2,
        help="unclassified claim lines per member",
    )
    p.add_argument(
        "--bad-row-rate", type=float, default=0.003, help="share of extra bad rows planted per feed"
    )
    p.add_argument(
        "--hold-back-days",
        type=int,
        default=0,
        help="files of the last D days go to holdback/ instead of landing/",
    )
    p.add_argument("--quiet", action="store_true", help="no summary line")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = generate(
            args.out,
            args.clients,
            args.seed,
            start=args.start,
            end=args.end,
            claims_only_members=args.claims_only_members,
            noise_claim_lines_per_member=args.noise_claim_lines_per_member,
            bad_row_rate=args.bad_row_rate,
            hold_back_days=args.hold_back_days,
        )
    except ValueError as exc:
        print(f"iop-generate: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
