"""Temporal Alignment Reward (TAR, docs/method.md#temporal-alignment-reward-tar): how many timed claims of a reasoning trace
line up, in time and in meaning, with the reference grounding.

`TarScorer.score_batch` is the one implementation used by training rewards, `vr2 score`,
`vr2 eval` and `vr2 explain`. It embeds every distinct sentence of the whole batch in one call
(GRPO scores 8 completions against the same references) and then matches each sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vr2.scoring.claims import Claim
from vr2.scoring.matching import Match, match_claims, release_claims

log = logging.getLogger("vr2.scoring.tar")

# Claims per side (predicted, reference) that one sample is matched on. A real trace has tens;
# without a cap a hostile one (10k x 10k claims) needs gigabytes for the similarity matrix and
# the matching. Claims past the cap are not embedded or matched, but still count as unmatched
# in the denominators, so spamming time mentions can never raise TAR.
MAX_CLAIMS_PER_TRACE = 512


@dataclass
class TarResult:
    pred_claims: list[Claim]
    ref_claims: list[Claim]
    matches: list[Match] = field(default_factory=list)
    pred_dropped: int = 0  # claims past MAX_CLAIMS_PER_TRACE, left out of the matching
    ref_dropped: int = 0

    @property
    def precision(self) -> float:
        """The paper's TAR: matched / predicted claims (0 without claims on either side)."""
        if not self.pred_claims or not self.ref_claims:
            return 0.0
        return len(self.matches) / (len(self.pred_claims) + self.pred_dropped)

    @property
    def recall(self) -> float:
        if not self.pred_claims or not self.ref_claims:
            return 0.0
        return len(self.matches) / (len(self.ref_claims) + self.ref_dropped)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@dataclass
class TarSettings:
    buffer_seconds: float = 2.0
    tau: float = 0.75
    matching: str = "optimal"


def similarities(pred: Sequence[Claim], ref: Sequence[Claim], vectors) -> np.ndarray:
    """Cosine similarity of every (pred, ref) pair, computed once per distinct pair of texts.

    A matrix product may round the same dot product differently in different columns (BLAS
    blocking); equal texts must give exactly equal similarities, or greedy matching would break
    the release's ties (first reference wins) by a last-bit difference.
    """
    p_texts = list(dict.fromkeys(c.text for c in pred))
    r_texts = list(dict.fromkeys(c.text for c in ref))
    table = np.stack([vectors[t] for t in p_texts]) @ np.stack([vectors[t] for t in r_texts]).T
    p_index = {t: i for i, t in enumerate(p_texts)}
    r_index = {t: i for i, t in enumerate(r_texts)}
    rows = [p_index[c.text] for c in pred]
    cols = [r_index[c.text] for c in ref]
    return table[np.ix_(rows, cols)]


class TarScorer:
    """Scores predicted claims against reference claims with one embedder."""

    def __init__(self, embedder, settings: TarSettings | None = None):
        self.embedder = embedder
        self.settings = settings or TarSettings()

    def score(self, pred: Sequence[Claim], ref: Sequence[Claim]) -> TarResult:
        return self.score_batch([(pred, ref)])[0]

    def score_batch(self, pairs: Sequence[tuple[Sequence[Claim], Sequence[Claim]]]) -> list[TarResult]:
        capped = [(list(p)[:MAX_CLAIMS_PER_TRACE], list(r)[:MAX_CLAIMS_PER_TRACE]) for p, r in pairs]
        vectors = self._embed_all(capped)
        results = []
        for (pred, ref), (all_pred, all_ref) in zip(capped, pairs):
            result = self._score_one(pred, ref, vectors)
            result.pred_dropped, result.ref_dropped = len(all_pred) - len(pred), len(all_ref) - len(ref)
            if result.pred_dropped or result.ref_dropped:
                log.warning("TAR: %d predicted and %d reference claims past the cap of %d per "
                            "trace were not matched (they count as unmatched)",
                            result.pred_dropped, result.ref_dropped, MAX_CLAIMS_PER_TRACE)
            results.append(result)
        return results

    def _embed_all(self, pairs) -> dict[str, np.ndarray]:
        # Only samples with claims on both sides need similarities.
        texts = [c.text for p, r in pairs if p and r for c in (*p, *r)]
        unique = list(dict.fromkeys(texts))
        if not unique:
            return {}
        return dict(zip(unique, self.embedder.encode(unique)))

    def _score_one(self, pred: list[Claim], ref: list[Claim], vectors) -> TarResult:
        if self.settings.matching == "greedy":  # the release's claim form (matching.py)
            pred, ref = release_claims(pred), release_claims(ref)
        if not pred or not ref:
            return TarResult(pred, ref)
        s = self.settings
        matches = match_claims(pred, ref, similarities(pred, ref, vectors),
                               buffer_seconds=s.buffer_seconds, tau=s.tau, method=s.matching)
        return TarResult(pred, ref, matches)
