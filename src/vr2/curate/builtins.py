"""Curation's built-in teacher (any OpenAI-compatible endpoint), registered through the same hook
as any plugin."""

from __future__ import annotations

from vr2.curate.teacher import OpenAITeacher
from vr2.plugins.hookspecs import hookimpl


def _openai_teacher(settings, cache_dir=None):
    return OpenAITeacher(settings, cache_dir)


@hookimpl
def vr2_teachers():
    return {"openai": _openai_teacher}
