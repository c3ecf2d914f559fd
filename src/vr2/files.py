"""Reading the user's files: every failure becomes one line that names the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

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
            # Read one byte past the cap rather than trusting the size stat gave.
            data = handle.read(max_bytes + 1)
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
    what remains, so a resumed run neither loses nor repeats a record."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as handle:
            handle.truncate(len(data))
    return data
