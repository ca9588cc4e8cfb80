"""`python -m orchestrator.simulator [options]`: the emulator alone (benchmarks start it so)."""

import argparse
import sys

from orchestrator.simulator.cli import add_arguments, run

parser = argparse.ArgumentParser(
    prog="python -m orchestrator.simulator",
    description="A local emulator of the ApsaraVideo VOD image AI API.",
)
add_arguments(parser)
sys.exit(run(parser.parse_args()))
