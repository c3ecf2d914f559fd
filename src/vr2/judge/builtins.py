"""The judge's built-in components: the OpenAI-compatible judge and the LLM-backed extractor and
consistency checker, registered through the same hooks as any plugin."""

from __future__ import annotations

from vr2.judge.client import JudgeClient, LLMConsistency, LLMExtractor, make_judge
from vr2.plugins.hookspecs import hookimpl


def _llm_extractor(judge=None):
    return LLMExtractor(make_judge(judge))


def _llm_consistency(judge=None):
    return LLMConsistency(make_judge(judge))


def _openai_judge(settings):
    # `make_judge` has already chosen these settings (recipe or environment).
    return JudgeClient(settings)


@hookimpl
def vr2_claim_extractors():
    return {"llm": _llm_extractor}


@hookimpl
def vr2_consistency_checkers():
    return {"llm": _llm_consistency}


@hookimpl
def vr2_judges():
    return {"openai": _openai_judge}
