"""Tests of flight.services.file_store: the bounded store and the run-directory path rule."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from flight.services.file_store import FileStore, PathRefused, run_path


def store(tmp_path: Path, max_bytes: int = 1000, max_files: int = 3) -> FileStore:
    s = FileStore(tmp_path / "files", max_bytes, max_files)
    s.open()
    return s


def put(s: FileStore, name: str, size: int) -> None:
    staged = s.partial / name
    staged.write_bytes(b"x" * size)
    assert s.deliver(name, staged) is None


def test_a_file_past_max_files_or_max_bytes_is_refused_and_a_replaced_file_counts_once(tmp_path):
    s = store(tmp_path)
    put(s, "a", 400)
    put(s, "b", 400)
    assert "do not fit" in s.admit("c", 201)
    assert s.admit("c", 200) is None
    put(s, "c", 200)
    assert "at most 3" in s.admit("d", 1)
    assert s.admit("a", 400) is None             # replaces a's 400: it counts once
    assert "besides the file it replaces" in s.admit("a", 401)
    assert [(e.name, e.size) for e in s.entries()] == [("a", 400), ("b", 400), ("c", 200)]
    assert s.used == 1000


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "../x", "a\\b", "x\0y", "é" * 200])
def test_a_name_that_is_not_plain_is_refused(tmp_path, name):
    assert store(tmp_path).admit(name, 1) is not None


def test_delivery_is_one_rename_after_a_last_bounds_check_and_the_partial_folder_is_emptied_at_start(tmp_path):
    s = store(tmp_path, max_bytes=100)
    staged = s.partial / "big"
    staged.write_bytes(b"y" * 101)               # admitted smaller, grew: refused at the end
    assert "do not fit" in s.deliver("big", staged)
    assert not (s.root / "big").exists() and staged.exists()
    small = s.partial / "small"
    small.write_bytes(b"z" * 10)
    assert s.deliver("small", small) is None
    assert (s.root / "small").read_bytes() == b"z" * 10 and not small.exists()
    again = FileStore(s.root, 100, 3)
    again.open()                                  # a restart: what a cut transfer left is gone
    assert list(again.partial.iterdir()) == [] and [e.name for e in again.entries()] == ["small"]


def test_delete_removes_a_file_of_the_store_and_refuses_what_is_not_one(tmp_path):
    s = store(tmp_path)
    put(s, "a", 10)
    s.delete("a")
    assert s.entries() == []
    with pytest.raises(FileNotFoundError):
        s.delete("a")
    with pytest.raises(PathRefused):
        s.delete("../keys")


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(["..", ".", "a", "files", "/", "b.bin", "..."]), min_size=1, max_size=6))
def test_paths_outside_the_run_directory_absolute_or_with_dotdot_are_refused(tmp_path, parts):
    (tmp_path / "files").mkdir(exist_ok=True)
    path = "/".join(parts)
    try:
        resolved = run_path(tmp_path, path)
    except PathRefused:
        assert path.startswith("/") or ".." in Path(path).parts or not path
        return
    assert not path.startswith("/") and ".." not in path.split("/")
    assert resolved == tmp_path.resolve() or tmp_path.resolve() in resolved.parents


def test_a_link_out_of_the_run_directory_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "escape").symlink_to(outside)
    with pytest.raises(PathRefused):
        run_path(run, "escape/secret")
    assert run_path(run, "logs/flight.log") == (run / "logs" / "flight.log").resolve()


def test_a_components_file_is_kept_whole_within_the_bounds_or_refused_leaving_nothing(tmp_path):
    store = FileStore(tmp_path / "files", max_bytes=1000, max_files=2)
    store.open()
    store.save("a.npy", b"a" * 600)
    assert (tmp_path / "files" / "a.npy").read_bytes() == b"a" * 600
    with pytest.raises(OSError, match="do not fit"):
        store.save("b.npy", b"b" * 401)
    with pytest.raises(OSError, match="not a plain file name"):
        store.save("../b.npy", b"b")
    store.save("a.npy", b"c" * 1000)                              # replaces: counts once
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == [".partial", "a.npy"]
    assert list(store.partial.iterdir()) == [] and (tmp_path / "files" / "a.npy").read_bytes() == b"c" * 1000
