"""The layers import only downward: every import statement of the project, read with ``ast``
(those inside functions and ``if TYPE_CHECKING:`` blocks too), is checked against the rules of
flight/__init__.py. A forbidden import fails with its file and line.

Rules:
- flight's core (flight.core) imports no other part of flight;
- flight.messages and flight.environment import only the core;
- the wire imports the core and the messages; protection the core, the messages, the wire and the
  environment; the payload the core, the messages, the environment and protection (never the
  services: products go out of its ports); the services the core, the messages, the wire, the
  environment and protection; only the application modules (flight/__init__, __main__, app, testing,
  dictionary_cli, cli_common) import everything;
- flight imports nothing from ground_sim, campaign or tools; ground_sim and campaign nothing from
  each other or from tools (campaigns run the flight's own classes, not the ground's);
- native imports no project module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("flight", "ground_sim", "native", "tools", "campaign")

# layer -> the flight layers it may import (itself included)
FLIGHT_LAYERS = {
    "core": {"core"},
    "messages": {"messages", "core"},
    "environment": {"environment", "core"},
    "wire": {"wire", "core", "messages"},
    "protection": {"protection", "core", "messages", "wire", "environment"},
    "payload": {"payload", "core", "messages", "environment", "protection"},
    "services": {"services", "core", "messages", "wire", "environment", "protection"},
    "app": {"app", "core", "messages", "environment", "wire", "protection", "payload", "services"},
}
APP_MODULES = {"__init__", "__main__", "app", "testing", "dictionary_cli", "cli_common"}


def flight_layer(module: str) -> str:
    """The layer of a flight module, e.g. ``flight.payload.cluster.engine`` -> ``payload``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "app"
    if parts[1] in APP_MODULES or parts[1] == "topologies":
        return "app"
    return parts[1]


def module_of(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    return ".".join(relative.parts).removesuffix(".__init__")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it stands."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, f"{base}.{alias.name}" if node.module is None else base)
                      for alias in node.names]
    return found


def violation(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported`` (None: it may)."""
    top, target = importer.split(".")[0], imported.split(".")[0]
    if target not in PROJECT or top == "tools":
        return None
    if top == "native" and target != "native":
        return "native imports no project module"
    if top in ("ground_sim", "campaign") and target in ("tools", "ground_sim", "campaign") and target != top:
        return f"{top} imports nothing from {target}"
    if top == "flight":
        if target in ("ground_sim", "tools", "campaign"):
            return f"flight imports nothing from {target}"
        if target == "flight":
            source, layer = flight_layer(importer), flight_layer(imported)
            if layer not in FLIGHT_LAYERS[source]:
                return f"the {source} layer may not import the {layer} layer"
    return None


def project_files() -> list[Path]:
    return sorted(p for top in PROJECT for p in (ROOT / top).rglob("*.py"))


def check(files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        importer = module_of(path)
        for line, imported in imports(path):
            reason = violation(importer, imported)
            if reason:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {imported}: {reason}")
    return problems


def test_every_import_of_the_project_follows_the_layer_rules():
    files = project_files()
    assert len(files) > 60  # the whole project is read, not a corner of it
    problems = check(files)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("importer, source, imported, reason", [
    ("flight/core/executive.py", "from flight.services.comms import Comms\n", "flight.services.comms",
     "the core layer may not import the services layer"),
    ("flight/core/component.py", "if TYPE_CHECKING:\n    from ..wire import pus\n", "flight.wire",
     "the core layer may not import the wire layer"),
    ("flight/payload/camera.py", "def f():\n    import flight.services.comms\n",
     "flight.services.comms", "the payload layer may not import the services layer"),
    ("flight/messages.py", "from flight.payload import scene\n", "flight.payload",
     "the messages layer may not import the payload layer"),
    ("flight/services/comms.py", "from ground_sim.station import GroundStation\n",
     "ground_sim.station", "flight imports nothing from ground_sim"),
    ("flight/app.py", "import tools.bench_native\n", "tools.bench_native",
     "flight imports nothing from tools"),
    ("ground_sim/sil.py", "from tools import bench_inference\n", "tools",
     "ground_sim imports nothing from tools"),
    ("native/_c.py", "from flight.core import types\n", "flight.core",
     "native imports no project module"),
])
def test_a_forbidden_import_is_reported_with_its_file_and_line(tmp_path, monkeypatch, importer,
                                                               source, imported, reason):
    fake_root = tmp_path / "project"
    path = fake_root / importer
    path.parent.mkdir(parents=True)
    path.write_text("import os\n" + source)
    monkeypatch.setattr(__import__(__name__), "ROOT", fake_root)
    problems = check([path])
    line = source.count("\n") + 1 if "\n    " in source else 2
    assert problems == [f"{importer}:{line}: imports {imported}: {reason}"]


def test_allowed_imports_are_not_reported(tmp_path, monkeypatch):
    fake_root = tmp_path / "project"
    cases = {"flight/payload/camera.py": "from flight.core.component import Component\n"
                                         "from flight.messages import Capture\n",
             "flight/app.py": "from flight.services.comms import Comms\n",
             "ground_sim/sil.py": "from flight.payload.scene import SceneGenerator\n",
             "tools/bench_link.py": "from ground_sim.station import GroundStation\n",
             "native/__init__.py": "import numpy\nfrom native import _fallback\n"}
    monkeypatch.setattr(__import__(__name__), "ROOT", fake_root)
    for relative, source in cases.items():
        path = fake_root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    assert check(sorted(fake_root.rglob("*.py"))) == []
