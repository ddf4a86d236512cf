"""Test-wide settings.

- No hypothesis deadlines (the machine is shared: a slow example is load, not a failure; timing
  is measured by the benchmarks in tools/, not by tests).
- Every test under tests/system/ (real processes over real sockets) is marked ``slow``:
  ``pytest -m "not slow"`` runs the unit tests alone.
"""
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("orbitfs", deadline=None)
settings.load_profile("orbitfs")

SYSTEM = Path(__file__).parent / "system"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SYSTEM in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
