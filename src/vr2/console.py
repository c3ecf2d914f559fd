"""The terminal library code reports on while it works (skipped rows, warnings, resumes).

It writes to stderr, so that what a command prints on stdout stays its result (a table, JSON).
"""

from __future__ import annotations

from rich.console import Console


def stderr_console() -> Console:
    """A rich console on stderr; long lines soft-wrap, so paths and ids stay whole for copying."""
    return Console(stderr=True, soft_wrap=True)
