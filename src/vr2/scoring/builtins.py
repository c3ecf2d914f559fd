"""Scoring's built-in components, registered through the same hooks as any plugin."""

from __future__ import annotations

from vr2.errors import Vr2Error
from vr2.plugins.hookspecs import hookimpl
from vr2.scoring.claims import RuleExtractor
from vr2.scoring.consistency import RuleConsistency
from vr2.scoring.embedding import SentenceTransformerEmbedder, make_minilm
from vr2.scoring.release_rewards import release_accuracy_reward, release_format_reward
from vr2.scoring.rewards import accuracy_for, build_tar_reward, format_reward


def _rule_extractor(judge=None):
    return RuleExtractor()


def _minilm(model: str | None = None, **options):
    return make_minilm(model, **options)


def _sentence_transformers(model: str | None = None, **options):
    if not model:
        raise Vr2Error("embedder 'sentence-transformers' needs a model folder (tar.embedder_model)")
    return SentenceTransformerEmbedder(model, **options)


def _rule_consistency(judge=None):
    return RuleConsistency()


def _accuracy(recipe):
    # accuracy.rules: vr2's rules, or the release's reward code (vr2.scoring.release_rewards).
    if recipe.accuracy.rules == "release":
        return release_accuracy_reward
    return accuracy_for(recipe.accuracy.regression)


def _format(recipe):
    return release_format_reward if recipe.format.rules == "release" else format_reward


def _tar(recipe):
    return build_tar_reward(recipe.tar, recipe.judge)


@hookimpl
def vr2_rewards():
    # The paper's three, in the order its total adds them.
    return {"accuracy": _accuracy, "format": _format, "tar": _tar}


@hookimpl
def vr2_claim_extractors():
    return {"rule": _rule_extractor}


@hookimpl
def vr2_embedders():
    return {"minilm": _minilm, "sentence-transformers": _sentence_transformers}


@hookimpl
def vr2_consistency_checkers():
    return {"rule": _rule_consistency}
