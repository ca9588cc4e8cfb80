"""Fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.process import kill_leftovers


@pytest.fixture(autouse=True)
def no_daemon_outlives_its_test() -> Iterator[None]:
    """A daemon process a failing test left running is killed, not left to run for hours."""
    yield
    kill_leftovers()
