"""The project's labelled reasoning traces (tests/scoring/traces/*.yaml) and how the readers agree with
them, field by field. Used by test_trace_corpus.py and benchmarks/bench_readers.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vr2.scoring.claims import RuleExtractor
from vr2.scoring.consistency import RuleConsistency, check_consistency
from vr2.scoring.format import parse_completion

TRACES = Path(__file__).parent / "scoring" / "traces"
FIELDS = ("think_answer", "tac", "claims")


def load_corpus(folder: Path = TRACES) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8")):
            row["file"] = path.name
            rows.append(row)
    return rows


def _number(value) -> float | None:
    try:
        return float(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None


def same_think(expected, got, answer_type: str) -> bool:
    """The real-trace script's comparison: letters equal, numbers equal (or equal text when the label
    is not a number), a free-form label phrase inside the conclusion; null only equals null."""
    if expected is None or got is None:
        return expected is None and got is None
    if answer_type == "multiple_choice":
        return str(got).strip().upper() == str(expected).strip().upper()
    if answer_type in ("numeric", "regression"):
        e, g = _number(expected), _number(got)
        if e is None:
            return str(got).strip().lower() == str(expected).strip().lower()
        return g is not None and abs(e - g) <= 1e-6 * max(1.0, abs(e))
    return str(expected).lower() in str(got).lower()


def same_claims(expected, got) -> bool:
    e = sorted([float(a), float(b)] for a, b in expected)
    g = sorted([c.start, c.end] for c in got)
    return len(e) == len(g) and all(abs(x[0] - y[0]) < 1e-6 and abs(x[1] - y[1]) < 1e-6
                                    for x, y in zip(e, g))


@dataclass
class Agreement:
    agree: dict = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    counted: dict = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    misses: list = field(default_factory=list)

    def rate(self, name: str) -> float:
        return self.agree[name] / self.counted[name] if self.counted[name] else 1.0

    def table(self) -> str:
        return "\n".join(f"{name:13s} {self.agree[name]:4d}/{self.counted[name]:<4d} = {self.rate(name):.3f}"
                         for name in FIELDS)


def score_corpus(rows: list[dict], embedder=None) -> Agreement:
    """Read every trace as `vr2 score` does (the rule gate given the embedder, the rule extractor) and
    count agreement with the labels."""
    checker, extractor = RuleConsistency(embedder=embedder), RuleExtractor()
    result = Agreement()
    for row in rows:
        parts = parse_completion(row["completion"])
        kind, options = row["type"], row.get("options")
        got = {
            "think_answer": check_consistency(row["completion"], kind, options).think_answer,
            "tac": checker.check(parts.think, parts.answer, kind, options),
            "claims": extractor.extract(parts.think) if parts.think and "<think>" in row["completion"] else [],
        }
        checks = {
            "think_answer": same_think(row["think"], got["think_answer"], kind),
            "tac": got["tac"] == row["tac"],
            "claims": same_claims(row["claims"], got["claims"]),
        }
        for name, ok in checks.items():
            result.counted[name] += 1
            result.agree[name] += ok
            if not ok:
                shown = got[name] if name != "claims" else [(c.start, c.end, c.text) for c in got[name]]
                expected = {"think_answer": row["think"], "tac": row["tac"], "claims": row["claims"]}[name]
                result.misses.append(f"{row['file']} {row['id']} {name}: label {expected!r}, vr2 {shown!r}")
    return result
