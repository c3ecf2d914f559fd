"""The curate state database: one-line errors for a full disk, an unwritable folder, a damaged
file; and the streamed dataset writer."""

from __future__ import annotations

import errno
import json

import pytest

from vr2.curate.output import ArrayFile
from vr2.curate.state import FolderLock, State
from vr2.errors import Vr2Error


def test_a_full_disk_is_one_line_and_earlier_rows_stay(tmp_path):
    state = State(tmp_path / "shard")
    state.execute("INSERT INTO records VALUES ('a', 's', '{}')")
    state.db.execute("PRAGMA max_page_count = " + str(state.one("PRAGMA page_count")))  # the file cannot grow
    with pytest.raises(Vr2Error, match="cannot write curate state .*full") as error:
        for i in range(10_000):
            state.execute("INSERT INTO records VALUES (?, 's', ?)", (f"k{i}", "x" * 1000))
    assert "\n" not in str(error.value)
    assert state.one("SELECT data FROM records WHERE key = 'a'") == "{}"


def test_an_unwritable_folder_and_a_damaged_file_are_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(Vr2Error, match="cannot open curate state"):
        State(blocker / "shard")
    with pytest.raises(Vr2Error, match="cannot lock"):
        FolderLock(blocker / "out", "test").acquire()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "state.sqlite").write_text("{}" * 100)
    with pytest.raises(Vr2Error, match="damaged curate state"):
        State(tmp_path / "bad")


def test_array_file_writes_what_json_dumps_writes(tmp_path):
    rows = [{"b": [1, {"c": "é"}], "a": None}, {"z": 1}]
    for given in (rows, []):
        path = tmp_path / "out.json"
        writer = ArrayFile(path)
        for row in given:
            writer.add(row)
        writer.close()
        assert path.read_text() == json.dumps(given, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def test_array_file_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "sft.json"
    path.write_text("[]\n")
    writer = ArrayFile(path)
    writer.add({"a": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("vr2.curate.output.os.fsync", full)
    with pytest.raises(Vr2Error, match="sft.json: cannot write .No space left"):
        writer.close()
    assert path.read_text() == "[]\n" and [p.name for p in tmp_path.iterdir()] == ["sft.json"]


def test_the_lock_names_its_holder(tmp_path):
    first = FolderLock(tmp_path, "vr2 curate")
    first.acquire()
    with pytest.raises(Vr2Error, match=r"in use by vr2 curate \(pid \d+ on "):
        FolderLock(tmp_path, "vr2 curate").acquire()
    first.release()
    FolderLock(tmp_path, "vr2 curate").acquire()


def test_array_file_gives_the_permissions_a_plain_open_gives(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        writer = ArrayFile(tmp_path / "sft.json")
        writer.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "sft.json").stat().st_mode) == 0o644
