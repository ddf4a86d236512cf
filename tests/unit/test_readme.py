"""The README's architecture section is generated, not drawn by hand: its wiring diagram and
wiring list are exactly what ``orbitfs-dict --wiring`` prints for the default topology, and its
table names every folder of the flight package. And every test file that a docstring or a
document names as the verification of a requirement exists."""
from __future__ import annotations

import re
from pathlib import Path

from flight.dictionary_cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def printed(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out.rstrip("\n")


def test_the_wiring_diagram_is_the_generated_one(capsys):
    diagram = printed(capsys, "--wiring", "mermaid")
    assert diagram.startswith("flowchart LR\n  comms -- RawTelecommand --> link")
    assert f"```mermaid\n{diagram}\n```" in README


def test_the_wiring_list_is_the_generated_one(capsys):
    wiring = printed(capsys, "--wiring")
    assert "camera.captures" in wiring and "role commands: dispatcher" in wiring
    assert f"```\n{wiring}\n```" in README


def test_the_layer_table_names_every_folder_of_the_flight_package():
    folders = sorted(p.name for p in (ROOT / "flight").iterdir()
                     if p.is_dir() and (p / "__init__.py").exists())
    assert folders == ["core", "environment", "payload", "protection", "services", "wire"]
    named = set(re.findall(r"^\| `flight/(\w+)/`", README, re.MULTILINE))
    assert named == set(folders)


def test_every_test_file_the_code_and_docs_name_exists():
    """A requirement's 'verified by' must point at a test file that is there."""
    sources = [*(ROOT / "flight").rglob("*.py"), *(ROOT / "ground_sim").rglob("*.py"),
               *(ROOT / "native").rglob("*.py"), *(ROOT / "tools").glob("*.py"),
               ROOT / "setup.py", ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    named = {(path.relative_to(ROOT), match) for path in sources
             for match in re.findall(r"tests/[\w/]+\.py", path.read_text())}
    assert len(named) > 40
    missing = sorted(f"{where}: {test}" for where, test in named if not (ROOT / test).is_file())
    assert not missing, "\n".join(missing)


def test_the_settings_reference_is_the_generated_one_and_the_readme_links_it(capsys):
    generated = printed(capsys, "--settings")
    assert "| cluster.policy | one of 'round-robin'" in generated
    assert (ROOT / "docs" / "settings.md").read_text().rstrip("\n") == generated
    assert "(docs/settings.md)" in README
