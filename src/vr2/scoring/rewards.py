"""Rewards: plain functions `(completions, **kwargs) -> list[float | None]` (TRL's signature).

kwargs carry the dataset columns per completion (`answer`, `answer_type`, `options`,
`temporal_grounding`). `None` means "no reward for this completion" (no gold answer, no reference,
or a judge that failed) so the trainer excludes it instead of learning from a fake 0.
Training, `vr2 score` and `vr2 eval` all call these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from vr2.errors import JudgeFailure, Vr2Error
from vr2.plugins import registry as plugins
from vr2.plugins.registry import components, is_builtin
from vr2.scoring.answers import infer_answer_type, score_answer
from vr2.scoring.claims import Claim, read_reference
from vr2.scoring.embedding import CachedEmbedder, LazyEmbedder, check_device
from vr2.scoring.format import format_ok, parse_completion
from vr2.scoring.tar import TarResult, TarScorer, TarSettings

RewardFn = Callable[..., list]


def completion_text(completion: Any) -> str:
    """A completion as text: TRL passes plain strings or chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return completion_text(completion.get("content", ""))
    if isinstance(completion, list):
        return "".join(
            completion_text(part.get("text", part.get("content", "")) if isinstance(part, dict) else part)
            for part in completion
        )
    return str(completion)


def column(kwargs: dict, key: str, n: int) -> list:
    """A dataset column for n completions (missing column -> Nones)."""
    values = kwargs.get(key)
    return [None] * n if values is None else list(values)


def resolve_answer_type(answer_type: str | None, answer: str | None, options) -> str:
    return answer_type or infer_answer_type(answer, options or [])


TRAINING_REGRESSION = "release"  # the release's clip(1 - |pred - gold| / |gold|, 0, 1)


def accuracy_reward(completions: Sequence, **kwargs) -> list[float | None]:
    """1 for a correct answer (by the sample's answer type, docs/method.md#accuracy-by-answer-type), partial for
    regression/ocr/free-form, None when the sample has no gold answer.

    Regression answers score by the release's training formula unless a `regression` column names
    the metric per completion ("mra" for benchmark scoring; `vr2.scoring.answers.REGRESSION_METRICS`).
    """
    return scored_accuracy(completions, TRAINING_REGRESSION, **kwargs)


def scored_accuracy(completions: Sequence, default_regression: str, **kwargs) -> list[float | None]:
    """`accuracy_reward` with `default_regression` as the metric of rows whose `regression` column is empty."""
    n = len(completions)
    answers = column(kwargs, "answer", n)
    types = column(kwargs, "answer_type", n)
    options = column(kwargs, "options", n)
    metrics = column(kwargs, "regression", n)
    scores: list[float | None] = []
    for completion, gold, kind, opts, metric in zip(completions, answers, types, options, metrics):
        if gold is None or str(gold).strip() == "":
            scores.append(None)
            continue
        predicted = parse_completion(completion_text(completion)).answer
        kind = resolve_answer_type(kind, str(gold), opts)
        scores.append(float(score_answer(predicted, str(gold), kind, opts or None, metric or default_regression)))
    return scores


def accuracy_for(regression: str) -> RewardFn:
    """The accuracy reward with regression answers scored by `regression` (a recipe's `accuracy.regression`)."""
    if regression == TRAINING_REGRESSION:
        return accuracy_reward

    def accuracy(completions: Sequence, **kwargs) -> list[float | None]:
        return scored_accuracy(completions, regression, **kwargs)

    accuracy.__name__ = "accuracy_reward"
    return accuracy


def format_reward(completions: Sequence, **kwargs) -> list[float | None]:
    """1 when the completion is exactly `<think>...</think><answer>...</answer>`."""
    return [1.0 if format_ok(completion_text(c)) else 0.0 for c in completions]


@dataclass
class TarDetail:
    """Everything behind one completion's TAR, for reports and logs."""

    result: TarResult | None  # None when the sample has no reference or extraction failed
    consistent: bool | None  # the gate's verdict; None = undecided
    gate: int | None  # 1 open, 0 closed, None = masked (judge failure)
    value: float | None  # the reward
    failure: str | None = None
    bad_ref_keys: int = 0  # reference entries dropped by the bad-key rule (claims.read_reference)
    claims: list[Claim] = field(default_factory=list)  # the trace's claims, with or without a reference


class TarReward:
    """The gated temporal alignment reward; call it like any reward function.

    Holds the chosen components (extractor, consistency checker, scorer) so that reference
    claims and embeddings are reused across calls.
    """

    __name__ = "tar"

    def __init__(self, scorer: TarScorer, extractor, checker=None, *, gate: bool = True):
        self.scorer = scorer
        self.extractor = extractor
        self.checker = checker
        self.gate = gate
        self._refs: dict[str, tuple[list[Claim] | None, int, str | None]] = {}

    def __call__(self, completions: Sequence, **kwargs) -> list[float | None]:
        details = self.details(completions, **kwargs)
        if callable(kwargs.get("log_metric")):
            log_tar_stats(details, kwargs["log_metric"])
            hit_rate = getattr(self.scorer.embedder, "hit_rate", None)
            if hit_rate is not None:  # since the run began: references and repeated clauses
                kwargs["log_metric"]("tar/embedding_cache_hit_rate", hit_rate)
        return [d.value for d in details]

    def details(self, completions: Sequence, **kwargs) -> list[TarDetail]:
        n = len(completions)
        grounding = column(kwargs, "temporal_grounding", n)
        types = column(kwargs, "answer_type", n)
        answers = column(kwargs, "answer", n)
        options = column(kwargs, "options", n)
        parsed = [parse_completion(completion_text(c)) for c in completions]
        # TAR reads only a lower-case <think> block, as the release did ("<THINK>" gives 0).
        claims = [self._predicted(p.think if "<think>" in p.text else None) for p in parsed]
        refs = [self._reference(g) for g in grounding]
        todo = [i for i in range(n) if refs[i][0] is not None and not isinstance(claims[i], str)]
        results = dict(zip(todo, self.scorer.score_batch([(claims[i], refs[i][0]) for i in todo])))
        out = []
        for i, p in enumerate(parsed):
            kind = resolve_answer_type(types[i], answers[i], options[i])
            detail = self._detail(results.get(i), claims[i], p, kind, options[i] or [], refs[i][2])
            detail.bad_ref_keys = refs[i][1]
            detail.claims = claims[i] if isinstance(claims[i], list) else []
            out.append(detail)
        return out

    def _detail(self, result, claims, parsed, kind, options, ref_problem) -> TarDetail:
        consistent = self._consistent(parsed, kind, options)
        if isinstance(claims, str):
            return TarDetail(None, consistent, None, None, failure=claims)
        if result is None:
            return TarDetail(None, consistent, None, None,
                             failure=ref_problem or "no reference grounding")
        if not self.gate:
            return TarDetail(result, consistent, 1, result.precision)
        judged = parsed.think is not None and parsed.answer is not None and self._judged()
        if consistent is None and judged:  # a judge that failed: mask; a missing block: gate closed
            return TarDetail(result, None, None, None, failure="consistency judge failed")
        gate = 1 if consistent else 0
        return TarDetail(result, consistent, gate, gate * result.precision)

    def _predicted(self, think: str | None) -> list[Claim] | str:
        if not think:  # no think block (or the release's case: only lower-case <think> counts)
            return []
        try:
            return list(self.extractor.extract(think))
        except JudgeFailure as exc:
            return f"claim extraction failed: {exc}"

    def _reference(self, grounding) -> tuple[list[Claim] | None, int, str | None]:
        """(claims or None, entries dropped by the bad-key rule, why there are no claims).
        Never raises: a grounding that is not a JSON object gives no reward (None), not a crash."""
        if grounding is None or grounding == "" or grounding == {}:
            return None, 0, None
        key = grounding if isinstance(grounding, str) else repr(sorted(grounding.items(), key=repr))
        if key not in self._refs:
            try:
                claims, bad = read_reference(grounding)
                self._refs[key] = (claims, len(bad), None)
            except Vr2Error as exc:
                self._refs[key] = (None, 0, f"bad reference grounding: {exc}")
        return self._refs[key]

    def _consistent(self, parsed, kind: str, options) -> bool | None:
        if self.checker is None or parsed.think is None or parsed.answer is None:
            return None
        return self.checker.check(parsed.think, parsed.answer, kind, options)

    def _judged(self) -> bool:
        # Only a remote judge can fail; the rule checker's None means "no think/answer".
        return getattr(self.checker, "name", "rule") != "rule"


def log_tar_stats(details: Sequence[TarDetail], log_metric: Callable[[str, float], None]) -> None:
    """Training logs: gate rate, claims per completion, matched share, masked (judge failures)."""
    scored = [d for d in details if d.result is not None]
    gated = [d.gate for d in scored if d.gate is not None]
    if gated:
        log_metric("tar/gate_rate", sum(gated) / len(gated))
    if scored:
        log_metric("tar/claims_per_completion", sum(len(d.result.pred_claims) for d in scored) / len(scored))
        log_metric("tar/precision_ungated", sum(d.result.precision for d in scored) / len(scored))
    log_metric("tar/bad_ref_keys", float(sum(d.bad_ref_keys for d in details)))
    log_metric("tar/masked", float(sum(1 for d in details if d.value is None and d.failure
                                       and "reference" not in d.failure)))


def total_reward(parts: dict[str, list[float | None]], weights: dict[str, float]) -> list[float | None]:
    """Weighted sum per completion; None when any weighted part is None."""
    used = [name for name, w in weights.items() if w and name in parts]
    n = len(next(iter(parts.values()))) if parts else 0
    totals: list[float | None] = []
    for i in range(n):
        values = [parts[name][i] for name in used]
        if any(v is None for v in values):
            totals.append(None)
        else:
            totals.append(sum(weights[name] * v for name, v in zip(used, values)))
    return totals


def build_tar_reward(tar_config, judge_config=None) -> TarReward:
    """A TarReward with the components a recipe's [tar] section names."""

    embedder_opts = {"model": tar_config.embedder_model} if tar_config.embedder_model else {}
    if check_device(tar_config.embedder_device) != "cpu":  # the default passes no device at all
        embedder_opts["device"] = tar_config.embedder_device
    embedder = CachedEmbedder(LazyEmbedder(tar_config.embedder, **embedder_opts))
    settings = TarSettings(tar_config.buffer_seconds, tar_config.tau, tar_config.matching)
    # The [judge] section as is: the llm components pick the judge with `make_judge`.
    extractor = plugins.make_extractor(tar_config.extractor, judge=judge_config)
    checker = plugins.make_consistency(tar_config.consistency, judge=judge_config)
    if hasattr(checker, "use_embedder"):  # the rule gate compares free-form answers by meaning
        checker.use_embedder(embedder)
    return TarReward(TarScorer(embedder, settings), extractor, checker, gate=tar_config.gate)


def reward_weights(recipe) -> dict[str, float]:
    """name -> weight of every reward the recipe turns on (weight > 0), in the recipe's order."""
    return {name: float(w) for name, w in recipe.rewards.items() if w}


def make_rewards(recipe, names) -> dict[str, RewardFn]:
    """name -> reward function, built by the reward registry (`vr2_rewards` hook)."""
    available = components("vr2_rewards")
    for name in names:
        if name not in available:
            raise Vr2Error(f"unknown reward '{name}' (installed: {', '.join(available) or 'none'})")
    return {name: available[name].factory(recipe) for name in names}


def reward_functions(recipe) -> dict[str, RewardFn]:
    """name -> function of the rewards a recipe weights: what GRPO trains on (TRL and OpenRLHF)."""
    return make_rewards(recipe, reward_weights(recipe))


def reported_rewards(recipe) -> dict[str, RewardFn]:
    """What `vr2 score` and `vr2 eval` compute: every built-in reward (their diagnostics are
    reported even at weight 0) and every other reward the recipe weights."""
    weights = reward_weights(recipe)
    names = [name for name, c in components("vr2_rewards").items() if is_builtin(c.plugin) or name in weights]
    return make_rewards(recipe, names)

