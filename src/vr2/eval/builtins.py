"""Evaluation's built-in engine (transformers), registered through the same hook as any plugin."""

from __future__ import annotations

from vr2.eval.runner import TransformersEngine
from vr2.plugins.hookspecs import hookimpl


def _transformers_engine(recipe):
    return TransformersEngine(recipe)


@hookimpl
def vr2_eval_engines():
    return {"transformers": _transformers_engine}
