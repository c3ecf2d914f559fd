"""The trace readers (conclusion, TAC gate, claims) on the project's labelled corpus, the free-form
meaning threshold, and what standalone claim text recovers. Numbers for BENCHMARKS.md
("Reading real traces", issue 22).

    PYTHONPATH=src python benchmarks/bench_readers.py

1. Per-field agreement with the labels of tests/scoring/traces/*.yaml (311 traces), read as `vr2 score`
   reads them (rule gate with the MiniLM embedder, rule extractor), and the readers' time per trace.
2. The meaning rule's threshold: accuracy on tests/scoring/meaning_pairs.yaml for each threshold,
   comparing predicates (vr2's rule) and, for reference, whole sentences.
3. Claim text: on tests/scoring/claim_text_pairs.yaml, the labelled same-event pairs TAR matches
   (optimal, tau 0.75, buffer 2 s) with each clause's own words and with standalone text, and the
   matched pairs that are not labelled (false matches).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from vr2.scoring.claims import RuleExtractor, reference_claims
from vr2.scoring.embedding import make_minilm
from vr2.scoring.paraphrase import MEANING_THRESHOLD, covers, meaning_similarity
from vr2.scoring.tar import TarScorer, TarSettings

TESTS = Path(__file__).resolve().parent.parent / "tests" / "scoring"


def _corpus_module():
    spec = importlib.util.spec_from_file_location("trace_corpus", TESTS.parent / "trace_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["trace_corpus"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def corpus_table(embedder) -> None:
    corpus = _corpus_module()
    rows = corpus.load_corpus()
    began = time.perf_counter()
    result = corpus.score_corpus(rows, embedder)
    seconds = time.perf_counter() - began
    print(f"1. own corpus: {len(rows)} traces, {1000 * seconds / len(rows):.1f} ms per trace (all readers)")
    print(result.table())
    for miss in result.misses:
        print("   miss:", miss)


def _whole_similarity(conclusion: str, answer: str, embedder) -> float:
    vectors = embedder.encode([answer, conclusion])
    return float(vectors[0] @ vectors[1])


def threshold_sweep(embedder) -> None:
    pairs = [tuple(p) for p in yaml.safe_load((TESTS / "meaning_pairs.yaml").read_text(encoding="utf-8"))]
    labels = np.array([same for _, _, same in pairs])
    stems = np.array([covers(c, a) for c, a, _ in pairs])
    print(f"\n2. meaning threshold on {len(pairs)} labelled pairs ({labels.sum()} same, "
          f"{len(pairs) - labels.sum()} different); accuracy of (stems or cosine >= t)")
    cosines = {}
    for name, fn in (("predicates (vr2)", meaning_similarity), ("whole sentences", _whole_similarity)):
        cosines[name] = np.array([fn(c, a, embedder) for c, a, _ in pairs])
        row = {t: float((((cosines[name] >= t) | stems) == labels).mean()) for t in np.arange(0.35, 0.81, 0.05)}
        best = max(row, key=row.get)
        cells = "  ".join(f"{t:.2f}:{v:.3f}" for t, v in row.items())
        print(f"   {name:17s} {cells}   best {best:.2f} ({row[best]:.3f})")
    chosen = float((((cosines["predicates (vr2)"] >= MEANING_THRESHOLD) | stems) == labels).mean())
    print(f"   MEANING_THRESHOLD = {MEANING_THRESHOLD}: accuracy {chosen:.3f}")


def claim_text(embedder) -> None:
    cases = yaml.safe_load((TESTS / "claim_text_pairs.yaml").read_text(encoding="utf-8"))
    scorer = TarScorer(embedder, TarSettings(buffer_seconds=2.0, tau=0.75, matching="optimal"))
    print(f"\n3. claim text on {len(cases)} labelled traces "
          f"({sum(len(c['same']) for c in cases)} same-event pairs), optimal TAR, tau 0.75")
    for name, extractor in (("clause words", RuleExtractor(standalone=False)),
                            ("standalone", RuleExtractor())):
        found = false = 0
        for case in cases:
            pred, ref = extractor.extract(case["think"]), reference_claims(case["ref"])
            wanted = {(float(t), key) for t, key in case["same"]}
            keys = {sentence.strip(): key for key, sentence in case["ref"].items()}
            for m in scorer.score(pred, ref).matches:
                pair = (pred[m.pred].start, keys[ref[m.ref].text])
                found += pair in wanted
                false += pair not in wanted
        print(f"   {name:13s} labelled pairs matched {found}, false matches {false}")


def main() -> None:
    embedder = make_minilm()
    corpus_table(embedder)
    threshold_sweep(embedder)
    claim_text(embedder)


if __name__ == "__main__":
    main()
