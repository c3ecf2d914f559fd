"""vr2's own components, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from vr2.plugins.registry import hookimpl


def _rule_extractor(judge=None):
    from vr2.scoring.claims import RuleExtractor

    return RuleExtractor()


def _llm_extractor(judge=None):
    from vr2.judge.client import LLMExtractor, client_for

    return LLMExtractor(client_for(judge))


def _minilm(model: str | None = None, **options):
    from vr2.scoring.embedding import make_minilm

    return make_minilm(model, **options)


def _sentence_transformers(model: str | None = None, **options):
    from vr2.scoring.embedding import SentenceTransformerEmbedder
    from vr2.errors import Vr2Error

    if not model:
        raise Vr2Error("embedder 'sentence-transformers' needs a model folder (tar.embedder_model)")
    return SentenceTransformerEmbedder(model, **options)


def _rule_consistency(judge=None):
    from vr2.scoring.consistency import RuleConsistency

    return RuleConsistency()


def _llm_consistency(judge=None):
    from vr2.judge.client import LLMConsistency, client_for

    return LLMConsistency(client_for(judge))


@hookimpl
def vr2_claim_extractors():
    return {"rule": _rule_extractor, "llm": _llm_extractor}


@hookimpl
def vr2_embedders():
    return {"minilm": _minilm, "sentence-transformers": _sentence_transformers}


@hookimpl
def vr2_consistency_checkers():
    return {"rule": _rule_consistency, "llm": _llm_consistency}


def _trl_backend():
    from vr2.train.trl_backend import TrlBackend

    return TrlBackend()


@hookimpl
def vr2_trainer_backends():
    return {"trl": _trl_backend}


def _transformers_engine(recipe):
    from vr2.eval.runner import TransformersEngine

    return TransformersEngine(recipe)


@hookimpl
def vr2_eval_engines():
    return {"transformers": _transformers_engine}


def _openai_judge(settings=None):
    from vr2.judge.client import openai_client

    return openai_client(settings)


@hookimpl
def vr2_judges():
    return {"openai": _openai_judge}


def _openai_teacher(settings, cache_dir=None):
    from vr2.curate.teacher import OpenAITeacher

    return OpenAITeacher(settings, cache_dir)


@hookimpl
def vr2_teachers():
    return {"openai": _openai_teacher}
