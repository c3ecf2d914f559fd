"""Pieces shared by vr2's self-contained HTML pages (explain, eval and curate reports)."""

from __future__ import annotations

import html
from typing import Any


def esc(value: Any) -> str:
    """Text made safe inside HTML elements and attribute values; None is empty."""
    return html.escape("" if value is None else str(value), quote=True)
