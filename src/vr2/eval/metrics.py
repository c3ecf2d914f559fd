"""Evaluation metrics: per-sample scores, per-benchmark numbers and the paper's averages.

Per sample (`score_responses`): accuracy, format, TAR and think-answer consistency come from the
training reward code itself (`vr2.scoring.batch.score_inputs`, which calls the reward registry's
functions: `accuracy`, `format`, the gated `tar`, and any reward the recipe weights), so an evaluation number and a reward can never
disagree. `tac_correctness` is `vr2.scoring.consistency.tac_correctness`; `vas_judge` is
`vr2.judge.client.vas_judge`.

Per benchmark (`benchmark_metrics`), on a 0-100 scale like the paper's tables:
- accuracy: mean accuracy reward over the samples that were scored (a sample whose video failed
  is not scored; it is counted under `errors`, never as a wrong answer);
- tac: share of scored samples whose <think> conclusion and <answer> agree (a missing block counts
  as not consistent); None for direct-answer runs (rows with `mode` "direct" and no <think>);
- tac_correctness: share of scored samples where the think conclusion is correct exactly when the
  final answer is (the official summary's notion); same denominator as tac;
- vas_attn: mean over samples that have reasoning tokens; vas_judge: mean over samples the judge
  scored (failures are counted, never scored 0);
- tar: mean gated TAR over samples that carry reference grounding; None when none do.

Official numbers (`official_metrics`): each benchmark's number as its lmms-eval task code combines
the same per-sample scores (MVBench: mean of the 20 task accuracies; MLVU dev: mean of its task
types; VSIBench: mean over question types; Video-MMMU open answers right or wrong; MMVU val: the
multiple-choice questions), the seeded random-option figure where the official code guesses for
unparseable answers (LongVideoBench, SciVideoBench, MINERVA), and per-category breakdowns. The
per-sample scores are always the reward code's; only how they combine differs.

Averages (`averages`): Generic = mean over the generic benchmarks present, Reasoning = mean over
the reasoning ones, Overall = mean over every benchmark present. With all 11 benchmarks Overall is
(5 x Generic + 6 x Reasoning) / 11, the paper's definition; with fewer it is the mean over those
covered, and the summary says which.
"""

from __future__ import annotations

import math
from dataclasses import replace
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vr2.errors import Vr2Error
from vr2.judge.client import vas_judge
from vr2.scoring.answers import (
    contains_answer,
    gold_choice,
    option_letters,
    parse_choice,
)
from vr2.scoring.batch import score_inputs
from vr2.scoring.format import parse_completion
from vr2.scoring.rewards import reported_rewards

BENCHMARK_REGRESSION = "mra"
METRICS = ("accuracy", "official_accuracy", "tac", "tac_correctness", "vas_attn", "vas_judge", "tar")
GROUPS = ("generic", "reasoning", "overall")
OVERALL_NOTE = ("Overall = mean over the benchmarks covered; with all 11 it equals the paper's "
                "(5 x Generic + 6 x Reasoning) / 11")


# --------------------------------------------------------------------------- per sample


def build_scorer(recipe):
    """The rewards eval scores with, from the reward registry: `rewards.reported_rewards` (the
    built-ins, TAR's embedder loading on first use, plus any reward the recipe weights)."""
    return reported_rewards(recipe)


def as_scored_completion(text: str, mode: str) -> str:
    """The completion the reward code scores. A direct-answer response has no tags: all of it is
    the answer. In think mode the text is scored as written (no <answer> block = no answer)."""
    if mode == "direct" and "<answer>" not in text.lower():
        return f"<answer>{text.strip()}</answer>"
    return text


def score_responses(items: Sequence[Any], rewards, weights: Mapping[str, float], *,
                    judge=None, questions: Sequence[str] | None = None) -> list[dict]:
    """Score `vr2.scoring.batch.ScoreInput`s; one flat dict of per-sample metrics each.

    A sample whose gold answer cannot be read (a data error) gets `score_error` instead of
    scores; the others are unaffected. `judge` (from `vr2.judge.client.make_judge`) adds `vas_judge`.
    Regression answers are scored by VSIBench's mean relative accuracy, the benchmark's own metric,
    whatever formula the recipe trains with (`accuracy.regression`).
    """
    items = [replace(item, regression=item.regression or BENCHMARK_REGRESSION) for item in items]
    try:
        results = score_inputs(list(items), rewards, dict(weights))
    except Vr2Error:
        results = []
        for item in items:  # find the bad one(s); the rest still count
            try:
                results += score_inputs([item], rewards, dict(weights))
            except Vr2Error as exc:
                results.append({"score_error": str(exc)})

    rows = [_flatten(result) for result in results]
    for item, row in zip(items, rows):
        row["has_think"] = parse_completion(item.completion).think is not None
    if judge is not None:
        for k, (item, row) in enumerate(zip(items, rows)):
            if "score_error" in row:
                continue
            question = questions[k] if questions else (item.question or "")
            value = vas_judge(judge, question, item.completion)
            row["vas_judge"] = value
            row["vas_judge_failed"] = value is None
    return rows


def _flatten(result: dict) -> dict:
    if "score_error" in result:
        return dict(result)
    rewards = result["rewards"]
    return {
        **{name: value for name, value in rewards.items() if name != "total"},  # every reward, by name
        "tac": result["tac"],
        "tac_correctness": result["tac_correctness"],
        "think_answer": result["think_answer"],
        "final_answer": result["final_answer"],
        "answer_type": result["answer_type"],
        "tar": result["tar"],
        "tar_precision": result["tar_precision"],
        "tar_recall": result["tar_recall"],
        "gate": result["gate"],
        "bad_ref_keys": result.get("bad_ref_keys", 0),
        **({"note": result["note"]} if result.get("note") else {}),
    }


# --------------------------------------------------------------------------- per benchmark


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(kept) / len(kept) if kept else None


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def benchmark_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Numbers for one benchmark from its per-sample rows (see the module docstring)."""
    errors = [r for r in rows if r.get("error") or r.get("score_error")]
    scored = [r for r in rows if not (r.get("error") or r.get("score_error"))]
    # A think-mode run whose model never opens <think> has TAC 0, not "no TAC".
    thinking = any(r.get("has_think") or r.get("mode", "think") == "think" for r in scored)
    with_gold = [r for r in scored if r.get("accuracy") is not None]
    grounded = [r for r in scored if r.get("tar") is not None]
    vas_attn = [r["vas_attn"] for r in scored if r.get("vas_attn") is not None]
    judged = [r["vas_judge"] for r in scored if r.get("vas_judge") is not None]
    return {
        "samples": len(rows),
        "scored": len(scored),
        "errors": len(errors),
        "accuracy": _pct(_mean(r["accuracy"] for r in with_gold)),
        "format": _pct(_mean(r.get("format") for r in scored)),
        "no_answer": sum(1 for r in scored if r.get("final_answer") is None),
        "tac": _pct(_mean(1.0 if r.get("tac") else 0.0 for r in scored)) if thinking else None,
        "tac_correctness": (_pct(_mean(1.0 if r.get("tac_correctness") else 0.0 for r in scored))
                            if thinking else None),
        "vas_attn": _mean(vas_attn),
        "vas_attn_samples": len(vas_attn),
        "vas_judge": _mean(judged),
        "vas_judge_failures": sum(1 for r in scored if r.get("vas_judge_failed")),
        "tar": _pct(_mean(r["tar"] for r in grounded)),
        "tar_samples": len(grounded),
        "bad_ref_keys": sum(r.get("bad_ref_keys") or 0 for r in scored),
    }


def averages(per_benchmark: Mapping[str, Mapping[str, Any]], categories: Mapping[str, str],
             metrics: Sequence[str] = METRICS) -> dict[str, dict[str, Any]]:
    """Generic / Reasoning / Overall means of each metric over the benchmarks present.

    `categories[name]` is "generic", "reasoning" or anything else (counted in Overall only).
    Each group holds `benchmarks` (names averaged) and, per metric, the mean over the benchmarks
    where the metric exists; `missing[metric]` lists group members without it.
    """
    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        names = [n for n in per_benchmark if group == "overall" or categories.get(n) == group]
        entry: dict[str, Any] = {"benchmarks": names, "missing": {}}
        for metric in metrics:
            values = {n: per_benchmark[n].get(metric) for n in names}
            present = [v for v in values.values() if v is not None]
            entry[metric] = sum(present) / len(present) if present else None
            absent = [n for n, v in values.items() if v is None]
            if present and absent:
                entry["missing"][metric] = absent
        out[group] = entry
    return out


# --------------------------------------------------------------------------- official aggregations

# Per-sample category fields the official breakdowns group by. `vr2 eval` writes them into each
# row of the samples JSONL (from the benchmark row) and `--from-samples` reads them from the
# task's logged metric entry, so any aggregation can be recomputed from the rows alone.
CATEGORY_FIELDS = ("task", "track", "task_type", "duration", "duration_group", "question_category",
                   "category", "sub_category", "task_category", "domain", "dim", "subject",
                   "question_type", "dataset")

# Benchmarks whose official number is the mean of per-group accuracies, and the grouping field
# (lmms-eval task code: MVBench's 20 tasks, MLVU dev's task types, VSIBench's question types).
GROUPED = {"mvbench": "task", "mlvu": "task_type", "vsibench": "question_type"}
# VSIBench's official code merges its three relative-direction types into one before averaging.
VSIBENCH_MERGED = {"object_rel_direction_easy": "object_rel_direction",
                   "object_rel_direction_medium": "object_rel_direction",
                   "object_rel_direction_hard": "object_rel_direction"}
# Where the official code answers an unparseable response with a random option: the letters it
# draws from (None: the sample's own options).
RANDOM_FILL = {"longvideobench": None, "scivideobench": 10, "minerva": 5}
RANDOM_SEED = 0
OFFICIAL_RULES = {
    "mvbench": "mean of the 20 task accuracies",
    "mlvu": "mean of the task-type accuracies",
    "vsibench": "mean over question types (MCQ accuracy, numeric MRA)",
    "videomme": "accuracy over all samples (by duration below)",
    "videommmu": "accuracy; open answers right when the gold answer is in the prediction",
    "mmvu": "accuracy over the multiple-choice questions",
}


def sample_score(benchmark: str, row: Mapping[str, Any]) -> float | None:
    """A scored row's contribution to its benchmark's official number: the accuracy reward,
    except Video-MMMU's open answers (right or wrong, by containment) and MMVU's open-ended
    questions (not part of the official val number)."""
    accuracy = row.get("accuracy")
    kind = row.get("answer_type")
    if accuracy is None:
        return None
    if benchmark == "mmvu" and kind not in (None, "multiple_choice"):
        return None
    if benchmark == "videommmu" and kind not in (None, "multiple_choice", "numeric"):
        return 1.0 if accuracy == 1.0 or contains_answer(row.get("final_answer"), row.get("target")) else 0.0
    return float(accuracy)


def _group_means(scored: list[tuple[Mapping, float]], field: str, merge: Mapping[str, str]) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for row, score in scored:
        key = str(row.get(field, "(none)"))
        groups.setdefault(key, []).append(score)
    means = {key: sum(v) / len(v) for key, v in groups.items()}
    merged: dict[str, list[float]] = {}
    for key, value in means.items():
        merged.setdefault(merge.get(key, key), []).append(value)
    return {key: sum(v) / len(v) for key, v in merged.items()}


def breakdown(rows: Sequence[Mapping[str, Any]], benchmark: str = "") -> dict[str, dict[str, dict]]:
    """{field: {value: {"accuracy": 0-100, "samples": n}}} for every category field with 2 to 60
    distinct values among the scored rows."""
    scored = [(r, s) for r in rows if not (r.get("error") or r.get("score_error"))
              for s in [sample_score(benchmark, r)] if s is not None]
    out: dict[str, dict[str, dict]] = {}
    for field in CATEGORY_FIELDS:
        values = {str(r[field]) for r, _ in scored if r.get(field) not in (None, "")}
        if not 2 <= len(values) <= 60:
            continue
        table: dict[str, dict] = {}
        for row, score in scored:
            if row.get(field) in (None, ""):
                continue
            entry = table.setdefault(str(row[field]), {"sum": 0.0, "samples": 0})
            entry["sum"] += score
            entry["samples"] += 1
        out[field] = {key: {"accuracy": 100.0 * e["sum"] / e["samples"], "samples": e["samples"]}
                      for key, e in sorted(table.items())}
    return out


def random_fill_accuracy(benchmark: str, rows: Sequence[Mapping[str, Any]], seed: int = RANDOM_SEED) -> float | None:
    """The official figure of LongVideoBench, SciVideoBench and MINERVA: a response from which
    no option letter parses gets a random letter (drawn with `seed`, in row order) that counts
    when it happens to be the gold one. None for other benchmarks or rows without options."""
    import random

    if benchmark not in RANDOM_FILL:
        return None
    draw = random.Random(seed)
    scores = []
    for row in rows:
        if row.get("error") or row.get("score_error") or row.get("accuracy") is None:
            continue
        options = row.get("options") or []
        if not options or row.get("target") in (None, ""):
            return None
        if row.get("final_answer") is not None and parse_choice(row["final_answer"], options) is not None:
            scores.append(float(row["accuracy"]))
            continue
        pool = option_letters(RANDOM_FILL[benchmark] or len(options))
        try:
            gold = gold_choice(str(row["target"]), options)
        except Vr2Error:
            gold = None
        scores.append(1.0 if draw.choice(pool) == gold else 0.0)
    return _pct(_mean(scores))


def official_metrics(benchmark: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The benchmark's number as its official task code aggregates it, its rule in words, the
    seeded random-option figure where the official code has one, and the per-category breakdown."""
    scored = [(r, s) for r in rows if not (r.get("error") or r.get("score_error"))
              for s in [sample_score(benchmark, r)] if s is not None]
    field = GROUPED.get(benchmark)
    if field and scored and all(r.get(field) not in (None, "") for r, _ in scored):
        merge = VSIBENCH_MERGED if benchmark == "vsibench" else {}
        value = _mean(_group_means(scored, field, merge).values())
        rule = OFFICIAL_RULES[benchmark]
    else:
        value = _mean(s for _, s in scored)
        rule = OFFICIAL_RULES.get(benchmark, "accuracy over samples")
        if field:
            rule += f" (rows lack '{field}', so accuracy over samples)"
    out = {"official_accuracy": _pct(value), "official_rule": rule, "breakdown": breakdown(rows, benchmark)}
    filled = random_fill_accuracy(benchmark, rows)
    if filled is not None:
        out["random_fill_accuracy"] = filled
    return out
