"""Training's built-in backend (TRL), registered through the same hook as any plugin."""

from __future__ import annotations

from vr2.plugins.hookspecs import hookimpl
from vr2.train.trl_backend import TrlBackend


@hookimpl
def vr2_trainer_backends():
    return {"trl": TrlBackend}
