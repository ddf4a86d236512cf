"""Test-wide settings.

- No hypothesis deadlines (the machine is shared: a slow example is load, not a failure; timing
  is measured by the benchmarks in tools/, not by tests).
- ``readme_example``: the test function of the README's python example that contains a marker,
  compiled from the README as it is (the examples run as written).
- ``restore_root_logger``: for tests that configure logging (the entry points' log options),
  the root logger's handlers and level as they were before the test.
- Every test under tests/system/ (real processes over real sockets) is marked ``slow``:
  ``pytest -m "not slow"`` runs the unit tests alone.
"""
import logging
import re
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import settings

from flight import cli_common

settings.register_profile("orbitfs", deadline=None)
settings.load_profile("orbitfs")

SYSTEM = Path(__file__).parent / "system"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SYSTEM in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Leave the root logger as the test found it (handlers and level), whatever it configured."""
    root = logging.getLogger()
    level, handlers, installed = root.level, list(root.handlers), list(cli_common._installed)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    # what configure_logging installed before the test and is still there stays its to replace
    cli_common._installed[:] = [handler for handler in installed if handler in root.handlers]
    root.setLevel(level)


README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def readme_example() -> Callable[[str], Callable]:
    """``find(marker)``: the one ``test_...`` function of the one README python example containing ``marker``."""
    def find(marker: str) -> Callable:
        blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
        [example] = [block for block in blocks if marker in block]
        namespace: dict = {}
        exec(compile(example, "README.md", "exec"), namespace)
        [test] = [value for name, value in namespace.items() if name.startswith("test_")]
        return test
    return find
