"""Reading the user's files: every failure becomes one line that names the file."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from vr2.errors import Vr2Error

# Whole-file reads (traces, references, recipes, subtitles) stop here, so `/dev/zero` or a
# runaway file is an error instead of a MemoryError. Training data files may be larger.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DATA_FILE_BYTES = 4 * 1024 * 1024 * 1024


def read_bytes(path: str | Path, what: str = "file", *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes; `what` names it in errors. Only regular files of at most `max_bytes`
    are read: a device, FIFO or socket could be endless."""
    # stat before open: opening a FIFO would block until someone writes to it.
    path = check_regular_file(path, what)
    try:
        with path.open("rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the stat
                raise Vr2Error(f"{path}: not a regular file, not a {what}")
            # Read what the file holds, one byte past the cap at most; never reserve the cap
            # itself (a 4 GiB buffer for a 1 KB file fails under a memory limit).
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(min(size, max_bytes) + 1)
            while len(data) <= max_bytes:  # the file grew since fstat
                more = handle.read(min(1024 * 1024, max_bytes + 1 - len(data)))
                if not more:
                    break
                data += more
    except OSError as error:
        raise Vr2Error(f"{path}: cannot read {what} ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise Vr2Error(f"{path}: {what} is larger than {max_bytes // (1024 * 1024)} MiB")
    return data


def read_text(path: str | Path, what: str = "file", *, encoding: str = "utf-8-sig",
              max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); `what` names it in errors."""
    try:
        return read_bytes(path, what, max_bytes=max_bytes).decode(encoding)
    except UnicodeDecodeError:
        raise Vr2Error(f"{path}: {what} is not UTF-8 text") from None


def check_regular_file(path: str | Path, what: str = "file") -> Path:
    """Refuse a missing path, a directory or a non-regular file before it is streamed."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise Vr2Error(f"{path}: {what} not found") from None
    except OSError as error:
        raise Vr2Error(f"{path}: cannot read {what} ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise Vr2Error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(mode):
        raise Vr2Error(f"{path}: not a regular file (a device, pipe or socket), not a {what}")
    return path


def drop_partial_line(path: Path) -> bytes:
    """Cut a half-written last line (left by a crash) off an append-only JSONL file and return
    what remains, so a resumed run neither loses nor repeats a record. Only a regular file is read
    (a FIFO planted at its name would block forever)."""
    data = read_bytes(path, "append-only log", max_bytes=MAX_DATA_FILE_BYTES)
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as handle:
            handle.truncate(len(data))
    return data


# ---------------------------------------------------------------- JSON in and out

# Nesting deeper than this is no data vr2 reads (a training row, a grounding, a log line is at
# most a few levels deep); refusing it early keeps recursive code further on safe.
MAX_JSON_DEPTH = 64


def loads_json(text: str | bytes, where: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text; every way it can fail is a Vr2Error naming `where` (a file, a file and
    line, a field): bad syntax, nesting past `max_depth`, an integer past Python's digit limit."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Vr2Error(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise Vr2Error(f"{where}: JSON nested too deeply (more than {max_depth} levels)") from None
    except ValueError:  # CPython refuses to convert an integer of over 4,300 digits
        raise Vr2Error(f"{where}: JSON holds a number with too many digits") from None
    if json_depth(value) > max_depth:
        raise Vr2Error(f"{where}: JSON nested too deeply (more than {max_depth} levels)")
    return value


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0); iterative, so
    any depth the parser accepted can be measured."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def dumps_json(value: Any, **kwargs) -> str:
    """JSON text that is always valid JSON: a NaN or infinity anywhere becomes null."""
    return json.dumps(finite_json(value), allow_nan=False, **kwargs)


def finite_json(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def iter_lines(path: str | Path, what: str = "file", *,
               max_line_bytes: int = MAX_FILE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """Stream a file's lines as (1-based line number, bytes without the newline). A line longer
    than `max_line_bytes` is yielded as (number, None) and skipped over without being held in
    memory, so the caller can report it and go on. Memory stays at one line."""
    path = check_regular_file(path, what)
    try:
        with path.open("rb") as handle:
            number = 0
            while True:
                line = handle.readline(max_line_bytes + 1)
                if not line:
                    return
                number += 1
                if len(line) > max_line_bytes and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):  # the rest of the long line
                        line = handle.readline(1024 * 1024)
                    yield number, None
                    continue
                yield number, line.rstrip(b"\r\n")
    except OSError as error:
        raise Vr2Error(f"{path}: cannot read {what} ({error.strerror or error})") from None


# ---------------------------------------------------------------- writing the user's files

def plain_file_mode() -> int:
    """The permissions `open(path, "w")` gives a new file (0o666 less the umask). A temporary
    file from mkstemp is private (0o600); one renamed into place gets these instead."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | Path, data: str | bytes, what: str = "file") -> None:
    """Write `data` to `path` all at once: a temporary file beside it, flushed, then renamed over
    it. A reader never sees half a file, a crash leaves the old file whole, and a symlink at
    `path` is replaced, never written through; the file gets the permissions a plain open()
    would give it. A full disk or an unwritable folder is a Vr2Error naming the file; the
    temporary file is removed."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise Vr2Error(f"{path}: cannot write {what} ({error.strerror or error})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), plain_file_mode())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise Vr2Error(f"{path}: cannot write {what} ({error.strerror or error})") from None


def make_folder(path: str | Path, what: str = "output folder") -> Path:
    """Create a folder vr2 writes into, with its parents; refuse one that is a symlink (vr2 writes
    only where it was told). An unwritable parent is a Vr2Error naming the folder."""
    path = Path(path)
    if path.is_symlink():
        raise Vr2Error(f"{path}: is a symbolic link; vr2 writes only into a real folder ({what})")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Vr2Error(f"{path}: cannot create the {what} ({error.strerror or error})") from None
    return path


def open_append(path: str | Path, what: str = "file") -> BinaryIO:
    """Open `path` for appending bytes, creating it; refuses a symlink (O_NOFOLLOW) or anything
    but a regular file, so an append-only log cannot be pointed at another file."""
    path = Path(path)
    # O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader, forever.
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Vr2Error(f"{path}: is a symbolic link; vr2 does not write {what} through one") from None
        if error.errno == errno.ENXIO:  # a FIFO nobody reads
            raise Vr2Error(f"{path}: not a regular file, not a {what}") from None
        raise Vr2Error(f"{path}: cannot write {what} ({error.strerror or error})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Vr2Error(f"{path}: not a regular file, not a {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")
