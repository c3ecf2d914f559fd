"""Where a `vr2 curate` shard keeps its stage results: one SQLite database per shard folder.

Every stage appends rows as it goes (one teacher reply, one probed video, one verdict, one
rating at a time), so a run killed anywhere loses at most the rows in flight, and a resumed run
asks the database what is left instead of reading everything that is done. Nothing is held in
memory beyond a page of rows: the state of 500,000 questions is a file, not a Python list.

Tables (all keyed by the sample key, the `source/source_id` of its row):

- ``stages``: one row per finished stage: the fingerprint of its inputs, whether it is complete
  (no call left to retry) and its statistics as JSON.
- ``loaded``: every source row of the last ingest (all shards' rows, so a key is unique across
  shards), with a hash of (video, normalised question, options) that finds duplicates.
- ``videos``: probe results by absolute path, size and modification time (a resumed ingest probes
  only what it has not).
- ``records``: the ingested samples of this shard.
- ``teach``: the teacher's reply per sample and teacher fingerprint (the journal).
- ``verify``: the verdict per sample and the digest of what it was computed from.
- ``rank``: difficulty values per sample, method and round (k rounds for `pass_rate`).
- ``ranked``: the samples rank kept, with their difficulty (what the merge reads).

SQLite runs in WAL mode with `synchronous=NORMAL`: a commit survives a killed process (kill -9);
only a power cut may lose the last commits, which the next run asks again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vr2.errors import Vr2Error
from vr2.files import loads_json

FILE = "state.sqlite"
PAGE = 512  # rows read at a time

SCHEMA = """
CREATE TABLE IF NOT EXISTS stages (name TEXT PRIMARY KEY, fingerprint TEXT, complete INTEGER, info TEXT);
CREATE TABLE IF NOT EXISTS loaded (key TEXT PRIMARY KEY, same BLOB UNIQUE, mine INTEGER, source TEXT,
                                   video TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS videos (path TEXT PRIMARY KEY, duration REAL, problem TEXT);
CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, source TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS teach (key TEXT, teacher TEXT, status TEXT, data TEXT, PRIMARY KEY (key, teacher));
CREATE TABLE IF NOT EXISTS verify (key TEXT PRIMARY KEY, inputs TEXT, kept INTEGER, reason TEXT,
                                   retry INTEGER, data TEXT);
CREATE TABLE IF NOT EXISTS rank (key TEXT, method TEXT, round INTEGER, value REAL, endpoint TEXT,
                                 PRIMARY KEY (key, method, round));
CREATE TABLE IF NOT EXISTS ranked (key TEXT PRIMARY KEY, source TEXT, video TEXT, difficulty REAL, data TEXT);
"""


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise Vr2Error(f"--shard {text}: expected i/N, e.g. 0/4") from None
        if count < 1 or not 0 <= index < count:
            raise Vr2Error(f"--shard {text}: needs 0 <= i < N")
        return cls(index, count)

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def owns(self, video: str) -> bool:
        digest = hashlib.sha256(video.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Compact, key-sorted JSON: the same value always gives the same text (fingerprints).
    `default` as in `json.dumps` (None: a value JSON cannot hold is an error)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=default)


class State:
    """One shard's database. Methods may be called from many threads (one lock, one connection)."""

    def __init__(self, folder: Path, create: bool = True):
        self.folder = folder
        self.path = folder / FILE
        if not create and not self.path.is_file():
            raise Vr2Error(f"{folder}: no curate state ({FILE}) here")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise Vr2Error(f"{self.path}: cannot open curate state ({error})") from None
        self.lock = threading.RLock()
        with self.guard():
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Hold the lock; any SQLite failure becomes one line naming the file."""
        with self.lock:
            try:
                yield
            except sqlite3.Error as error:
                raise self.damaged(error) from None

    def damaged(self, error: Any) -> Vr2Error:
        if isinstance(error, sqlite3.OperationalError) and "disk" in str(error).lower():
            return Vr2Error(f"{self.path}: cannot write curate state ({error}); free space and run again")
        return Vr2Error(f"{self.path}: damaged curate state ({error}); delete {self.folder} to redo this shard")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.guard():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Run one statement (its own transaction) and return all its rows."""
        with self.guard():
            return self.db.execute(sql, args).fetchall()

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        with self.transaction():
            self.db.executemany(sql, rows)

    def one(self, sql: str, args: tuple = ()) -> Any:
        rows = self.execute(sql, args)
        return rows[0][0] if rows else None

    def pages(self, sql: str, args: tuple = (), key_at: int = 0) -> Iterator[tuple]:
        """Rows of `sql` in key order, a page at a time. `sql` ends in `<key> > ? ORDER BY <key>
        LIMIT ?` (the last key seen and the page size are appended to `args`); the key is the
        `key_at` column. Writes between pages are fine: each page is its own query."""
        last = ""
        while True:
            rows = self.execute(sql, (*args, last, PAGE))
            yield from rows
            if len(rows) < PAGE:
                return
            last = rows[-1][key_at]

    def json(self, text: Any, where: str) -> dict:
        """A JSON object stored in the database (a damaged one is a one-line error)."""
        if not isinstance(text, str):
            raise Vr2Error(f"{self.path}: damaged curate state ({where} is not JSON text); delete {self.folder}")
        value = loads_json(text, f"{self.path} ({where})")
        if not isinstance(value, dict):
            raise Vr2Error(f"{self.path}: damaged curate state ({where} is not a JSON object); delete {self.folder}")
        return value

    # -- stages

    def stage(self, name: str) -> dict | None:
        """{fingerprint, complete, info} of a finished stage, or None."""
        rows = self.execute("SELECT fingerprint, complete, info FROM stages WHERE name = ?", (name,))
        if not rows:
            return None
        fingerprint, complete, info = rows[0]
        return {"fingerprint": fingerprint, "complete": bool(complete), "info": self.json(info, f"stage {name}")}

    def finish(self, name: str, fingerprint: str, complete: bool, info: dict) -> None:
        self.execute("INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?)", (name, fingerprint, int(complete), dumps(info)))

    def forget(self, *names: str) -> None:
        for name in names:
            self.execute("DELETE FROM stages WHERE name = ?", (name,))


class FolderLock:
    """An exclusive lock on a folder (`.vr2-curate.lock`, flock: released by the OS when the process
    dies, even by kill -9). The holder writes who it is into the file, so a second run can say who
    holds the folder instead of making every teacher call a second time."""

    NAME = ".vr2-curate.lock"

    def __init__(self, folder: Path, what: str):
        self.folder = folder
        self.what = what
        self.handle = None

    def acquire(self) -> None:
        import fcntl
        import os
        import socket
        import sys
        import time

        path = self.folder / self.NAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as error:
            raise Vr2Error(f"{path}: cannot lock the folder ({error.strerror or error})") from None
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = handle.read(500).strip() or "another process"
            handle.close()
            raise Vr2Error(f"{self.folder}: in use by {holder}; wait for it to finish or stop it") from None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.truncate(0)
        handle.write(f"{self.what} (pid {os.getpid()} on {socket.gethostname()}, since {started}: "
                     f"{' '.join(sys.argv[:3])[:200]})")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
