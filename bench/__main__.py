"""`python -m bench run|refigure|report`: see bench/__init__.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.runner import SYSTEMS, refigure, run_workload
from bench.workloads import WORKLOADS

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run workloads, write bench/results/<date>-<name>.json")
    run.add_argument("workloads", nargs="+", choices=sorted(WORKLOADS))
    run.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}"
    )
    run.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    run.add_argument(
        "--daemon-setting",
        action="append",
        default=[],
        metavar="ORCHESTRATOR_X_Y=VALUE",
        help="try the daemon with another setting (repeatable; needs --label)",
    )
    run.add_argument("--label", default="", help="suffix of the results file name")
    run.add_argument(
        "--keep-dir", type=Path, help="keep each system's files and raw record here (new dir)"
    )
    again = commands.add_parser(
        "refigure", help="recompute a results file's figures from the raw records kept"
    )
    again.add_argument("results_file", type=Path)
    again.add_argument("--keep-dir", type=Path, required=True, help="the workload's kept files")
    report = commands.add_parser("report", help="bench/REPORT.md and figures from the results")
    report.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    report.add_argument("--report", type=Path, default=BENCH_DIR / "REPORT.md")
    args = parser.parse_args(argv)
    if args.command == "run":
        systems = [s for s in args.systems.split(",") if s]
        unknown = sorted(set(systems) - set(SYSTEMS))
        if unknown:
            parser.error(f"unknown system(s): {', '.join(unknown)}")
        overrides: dict[str, str] = {}
        for setting in args.daemon_setting:
            key, sep, value = setting.partition("=")
            if not sep or not key.startswith("ORCHESTRATOR_"):
                parser.error("--daemon-setting takes ORCHESTRATOR_<SECTION>_<KEY>=VALUE")
            overrides[key] = value
        if overrides and not args.label:
            parser.error("--daemon-setting needs --label")
        for name in args.workloads:
            path = run_workload(
                WORKLOADS[name],
                results_dir=args.results_dir,
                systems=systems,
                daemon_overrides=overrides,
                label=args.label,
                keep_dir=None if args.keep_dir is None else args.keep_dir / name,
            )
            print(f"wrote {path}")
        return 0
    if args.command == "refigure":
        refigure(args.results_file, args.keep_dir)
        print(f"wrote {args.results_file}")
        return 0
    from bench.report import write_report  # matplotlib is needed only here

    print(f"wrote {write_report(args.results_dir, args.report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
