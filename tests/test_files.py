"""vr2.files: reading and writing the user's files, every failure one line naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from vr2.errors import Vr2Error
from vr2.files import (
    MAX_JSON_DEPTH,
    drop_partial_line,
    dumps_json,
    iter_lines,
    json_depth,
    loads_json,
    open_append,
    read_bytes,
    write_atomic,
)


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000, "nested too deeply"),
    ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested too deeply"),
    ('{"a": ' + "9" * 5000 + "}", "too many digits"),
    ("{", "not valid JSON"),
])
def test_loads_json_bad_input_is_one_line(text, message):
    with pytest.raises(Vr2Error) as caught:
        loads_json(text, "rows.json")
    assert str(caught.value).startswith("rows.json: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_loads_json_accepts_the_depth_limit():
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(loads_json(text, "x")) == MAX_JSON_DEPTH


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=20))
def test_loads_json_round_trips(value):
    assert loads_json(json.dumps(value), "x", max_depth=10_000) == value


def test_dumps_json_is_always_valid_json():
    text = dumps_json({"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads(text) == {"a": None, "b": [None, 1.5]}


def test_read_bytes_reserves_only_what_the_file_holds(tmp_path):
    """A 1 KB read under a 1 GiB address-space cap: reading by the cap (4 GiB) would fail."""
    small = tmp_path / "small.json"
    small.write_text("[1]" * 300)
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30));"
        "from vr2.files import read_bytes; "
        f"print(len(read_bytes({str(small)!r}, max_bytes=4 << 30)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "900", result.stderr


def test_read_bytes_refuses_past_the_cap(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(Vr2Error, match="larger than"):
        read_bytes(big, max_bytes=1024)


def test_iter_lines_skips_an_overlong_line_without_holding_it(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"a\n" + b"x" * 5000 + b"\nb\r\nc")
    assert list(iter_lines(path, max_line_bytes=100)) == [(1, b"a"), (2, None), (3, b"b"), (4, b"c")]


def test_write_atomic_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "report.md"
    link.symlink_to(victim)
    write_atomic(link, "new")
    assert victim.read_text() == "keep"
    assert not link.is_symlink() and link.read_text() == "new"


def test_write_atomic_unwritable_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:
        folder = tmp_path / "missing" / "deeper"  # root writes anywhere: use a missing folder
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    with pytest.raises(Vr2Error, match="cannot write"):
        write_atomic(folder / "out.json", "{}")


def test_open_append_refuses_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "log.jsonl").symlink_to(victim)
    with pytest.raises(Vr2Error, match="symbolic link"):
        open_append(tmp_path / "log.jsonl")
    with open_append(tmp_path / "new.jsonl") as handle:
        handle.write(b"x\n")
    assert (tmp_path / "new.jsonl").read_bytes() == b"x\n"


def test_a_fifo_never_blocks_an_append_or_a_resume(tmp_path):
    """A FIFO planted at a log's name: opening it to append or to cut its last line would wait
    for a peer forever; both are one-line errors instead."""
    fifo = tmp_path / "samples.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(Vr2Error, match="not a regular file"):
        open_append(fifo)
    with pytest.raises(Vr2Error, match="not a regular file"):
        drop_partial_line(fifo)


def test_drop_partial_line_cuts_only_the_half_written_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b"')
    assert drop_partial_line(path) == b'{"a": 1}\n'
    assert path.read_bytes() == b'{"a": 1}\n'


def test_write_atomic_gives_the_permissions_a_plain_open_gives(tmp_path):
    """mkstemp makes its file private (0o600); the renamed file must not stay so."""
    import stat

    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "atomic.json", "{}")
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(old)
    modes = {stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("atomic.json", "plain.json")}
    assert modes == {0o640}
