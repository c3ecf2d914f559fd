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

The accuracy here is vr2's own reading of an answer (the reward code's parser). Each paper
benchmark's official number, read and combined as its task code does it, is
`vr2.eval.official`'s; `breakdown` splits that official score by category.

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
    whatever formula the recipe trains with (`accuracy.regression`); under `accuracy.rules = "release"`
    the accuracy is the release's reward as written, its regression formula included.
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


# --------------------------------------------------------------------------- per category

# Per-sample category fields the breakdowns group by. `vr2 eval` writes them into each
# row of the samples JSONL (from the benchmark row) and `--from-samples` reads them from the
# task's logged metric entry, so any aggregation can be recomputed from the rows alone.
CATEGORY_FIELDS = ("task", "track", "task_type", "duration", "duration_group", "question_category",
                   "category", "sub_category", "task_category", "domain", "dim", "subject",
                   "question_type", "dataset")


def sample_score(row: Mapping[str, Any]) -> float | None:
    """A row's score in the per-category breakdowns: its official score where its benchmark has
    an official rule (`vr2.eval.official`), else vr2's accuracy."""
    if "official_source" in row or row.get("official_error"):
        value = row.get("official_score")
        return float(value) if isinstance(value, (int, float)) and not row.get("official_error") else None
    value = row.get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def breakdown(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict]]:
    """{field: {value: {"accuracy": 0-100, "samples": n}}} for every category field with 2 to 60
    distinct values among the scored rows."""
    scored = [(r, s) for r in rows if not (r.get("error") or r.get("score_error"))
              for s in [sample_score(r)] if s is not None]
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
