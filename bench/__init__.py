"""Benchmarks of vod-orchestrator against what a team writes with the official SDK.

`python -m bench run W1 W2` (or `make bench`) runs each workload through the daemon and the two
SDK baselines against the emulator, each in its own process, and writes
`bench/results/<date>-<workload>.json`; `python -m bench report` turns the newest results into
`bench/REPORT.md` and one PNG per workload. `run --daemon-setting ORCHESTRATOR_X=V --label L`
tries the daemon with other settings; `run --keep-dir D` keeps each run's files and raw record,
from which `python -m bench refigure` recomputes a results file after a figure's definition
changes. `bench/emulator_throughput.py` stands apart: it measures the emulator alone.
"""
