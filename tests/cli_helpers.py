"""Run the `vr2` command in-process, as a user would from a shell."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_vr2(capsys, *args: str) -> Result:
    from vr2.cli.main import main

    old = sys.argv
    sys.argv = ["vr2", *map(str, args)]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
