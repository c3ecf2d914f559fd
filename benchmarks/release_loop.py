"""The release's TAR matching loop (what follows its LLM call), restated once for the benchmarks that
compare with it: `bench_tar.py` times it, `bench_greedy_release.py` checks vr2's greedy mode against it.
"""

from __future__ import annotations

from sentence_transformers import util


def release_greedy(pred, gold, pred_vectors, gold_vectors, buffer: float, threshold: float) -> int:
    """How many predictions the release's loop matches. `pred` and `gold` are (start, end) pairs in
    whole seconds, in the release's order (by midpoint, stable), with their vectors in the same order.
    Each prediction takes the free reference within the buffer whose cosine (`util.cos_sim`, pair by
    pair, as the release computes it) is the highest at or above the threshold."""
    used, hits = set(), 0
    for i, (p_start, p_end) in enumerate(pred):
        best, best_sim = None, -1.0
        for j, (g_start, g_end) in enumerate(gold):
            if j in used or not (p_start - buffer <= g_end + buffer and g_start - buffer <= p_end + buffer):
                continue
            sim = util.cos_sim(pred_vectors[i], gold_vectors[j]).item()
            if sim >= threshold and sim > best_sim:
                best, best_sim = j, sim
        if best is not None:
            used.add(best)
            hits += 1
    return hits
