"""Agreement of `--matching greedy` with the release's TAR on generated reasoning traces.

Each generated trace cites 2-7 events in varied time formats (clocks, ranges, "at 12 seconds",
"around the 16-second mark", lists, decimals), mixed with sentences without times, clock readings
and durations. Its reference grounding shifts some times by up to 3 s, rewords some sentences,
drops or adds entries, and sometimes carries a key that is not a time.

Two comparisons, both with the real MiniLM embedder:

1. Matching core. The claims the trace really makes (what the release's LLM extractor is asked
   to return: one {MM:SS: clause} entry per cited time) are scored by vr2's TarScorer in greedy
   mode and by `release_tar`, a restatement of the release's calculate_grounding_reward after its
   LLM call (key sanitising, whole seconds, midpoint order, greedy, cosine by
   sentence_transformers.util.cos_sim). Expected: equal on every trace.
2. End to end. vr2's rule extractor reads the <think> text itself (no LLM) and vr2 parses the
   reference; the release side is the same oracle as in 1. Differences here come from extraction
   and from the bad-key rule; each one is classified.

    PYTHONPATH=src python benchmarks/bench_greedy_release.py --traces 500 --seed 0
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import numpy as np
from release_loop import release_greedy

from vr2.scoring.claims import Claim, RuleExtractor, reference_claims
from vr2.scoring.embedding import SentenceTransformerEmbedder, minilm_path
from vr2.scoring.tar import TarScorer, TarSettings

SUBJECTS = ["the man", "the woman", "a child", "the dog", "the chef", "a cyclist", "the referee",
            "the driver", "a girl in a red coat", "the old man"]
ACTIONS = ["opens the front door", "picks up a blue cup", "waves at the camera", "sits on the bench",
           "pours water into a glass", "starts running", "throws the ball", "turns left at the corner",
           "puts the box on the table", "closes the laptop", "jumps over the fence", "laughs loudly",
           "takes off his hat", "writes on the whiteboard", "rides past the shop"]
REWORD = {"opens": "unlocks", "picks up": "grabs", "waves at": "greets", "sits on": "rests on",
          "starts running": "begins to run", "throws": "tosses", "closes": "shuts",
          "jumps over": "leaps over", "laughs loudly": "bursts out laughing"}
FILLERS = ["The scene is indoors and well lit.", "Let me look at the options again.",
           "The background stays the same.", "This seems important for the question.",
           "The clock on the wall reads 10:45.", "He keeps walking for 5 seconds.",
           "The camera pans slowly."]
CONCLUSIONS = ["Therefore, the answer is B.", "So the answer is C.", "Thus, option A fits best."]


def clock(t: int) -> str:
    return f"{t // 60:02d}:{t % 60:02d}" if t < 3600 else f"{t // 3600}:{t % 3600 // 60:02d}:{t % 60:02d}"


def time_phrase(rng: random.Random, start: int, end: int) -> str:
    """A time as a model writes it."""
    if start != end:
        return rng.choice([f"from {clock(start)} to {clock(end)}", f"between {start}s and {end}s",
                           f"({clock(start)} - {clock(end)})", f"from the {clock(start)} mark until {clock(end)}",
                           f"{clock(start)}-{clock(end)}"])
    return rng.choice([f"at {clock(start)}", f"At {start} seconds", f"around the {start}-second mark",
                       f"at {start}s", f"[{clock(start)}]", f"at about {clock(start)}",
                       f"at {start}.5s" if rng.random() < 0.3 else f"at {clock(start)}"])


def make_trace(rng: random.Random) -> tuple[str, dict, dict]:
    """(completion, oracle {key: clause} the release's extractor should return, reference)."""
    n = rng.randint(2, 7)
    times = sorted(rng.sample(range(1, 240), n))
    sentences, oracle, reference = [], {}, {}
    for t in times:
        is_range = rng.random() < 0.25
        end = t + rng.randint(2, 8) if is_range else t
        clause = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)}"
        phrase = time_phrase(rng, t, end)
        sentences.append(rng.choice([f"{phrase[0].upper()}{phrase[1:]}, {clause}.",
                                     f"{clause[0].upper()}{clause[1:]} {phrase}."]))
        start_key = t
        if phrase.startswith("at ") and phrase.endswith(".5s"):
            start_key = round(t + 0.5)  # the release's extractor rounds to the nearest second
        key = clock(start_key) if not is_range else f"{clock(t)}-{clock(end)}"
        oracle[key] = clause[0].upper() + clause[1:] + "."
        if rng.random() < 0.85:  # the reference mentions this event
            shift = rng.choice([0, 0, 0, 1, -1, 2, 3, -3])
            ref_text = clause
            if rng.random() < 0.4:
                for a, b in REWORD.items():
                    ref_text = ref_text.replace(a, b)
            rs = max(0, t + shift)
            reference[clock(rs) if not is_range else f"{clock(rs)}-{clock(end + shift)}"] = (
                ref_text[0].upper() + ref_text[1:] + ".")
        if rng.random() < 0.4:
            sentences.append(rng.choice(FILLERS))
        if rng.random() < 0.1 and start_key == t:  # the same time again: the dict keeps one entry
            again = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)}"
            sentences.append(f"At {clock(t)}, {again}." if not is_range else f"Meanwhile {again}.")
            if not is_range:
                oracle[key] = again[0].upper() + again[1:] + "."
    if rng.random() < 0.2:  # a list sharing one unit: two claims with one clause
        a, b = sorted(rng.sample(range(241, 300), 2))
        clause = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)}"
        sentences.append(f"At {a} and {b} seconds {clause}.")
        for t in (a, b):
            oracle[clock(t)] = clause[0].upper() + clause[1:] + "."
    if rng.random() < 0.2:  # the question's time is quoted, not claimed
        sentences.insert(0, f"The question asks what happens at {clock(rng.randint(1, 240))}.")
    if rng.random() < 0.3:
        reference[clock(rng.randint(1, 240))] = f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(ACTIONS)}."
    if rng.random() < 0.08:
        reference[rng.choice(["00:05 - end", "00:75", "00:05-00:09s"])] = "The video ends."
    if rng.random() < 0.1:  # a contested reference: greedy order loses a pair optimal keeps
        x = rng.randint(310, 400)
        clause = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)}"
        sentence = clause[0].upper() + clause[1:] + "."
        reworded = sentence
        for a, b in REWORD.items():
            reworded = reworded.replace(a, b)
        sentences.append(f"From {clock(x)} to {clock(x + 20)}, {clause}. At {clock(x + 20)}, {clause}.")
        oracle[f"{clock(x)}-{clock(x + 20)}"] = oracle[clock(x + 20)] = sentence
        reference[clock(x + 10)], reference[clock(x + 20)] = reworded, sentence
    if rng.random() < 0.03:  # an event at 75 s whose reference key is written "00:75"
        clause = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)}"
        sentences.append(f"At 01:15, {clause}.")
        oracle["01:15"] = reference["00:75"] = clause[0].upper() + clause[1:] + "."
    think = " ".join(sentences + [rng.choice(CONCLUSIONS)])
    return f"<think>{think}</think><answer>B</answer>", oracle, reference


# --- the release, restated (its TAR after the LLM call) --------------------------------------

def _seconds_loose(token: str):
    t = token.strip().strip("+.,").lower()
    if t in {"end", "eof"}:
        return None
    try:
        if ":" in t:
            parts = t.split(":")
            if len(parts) not in (2, 3):
                return None
            h = int(parts[0]) if len(parts) == 3 else 0
            m, s = int(parts[-2]), float(parts[-1])
            return int(round(h * 3600 + m * 60 + s))
        return int(round(float(t)))
    except ValueError:
        return None


def _sanitised(d: dict) -> dict[tuple[int, int], str]:
    import re

    out: dict[tuple[int, int], str] = {}
    for key, value in d.items():
        parts = re.split(r"\s*(?:-|–|—|to)\s*", key.strip(), flags=re.IGNORECASE)
        if len(parts) > 2:
            continue
        start = _seconds_loose(parts[0])
        end = _seconds_loose(parts[1]) if len(parts) == 2 else start
        if start is None or end is None:
            continue
        out[(min(start, end), max(start, end))] = value
    return out


def release_tar(oracle: dict, reference: dict, table, buffer: int = 2, threshold: float = 0.75) -> float:
    import torch

    def claims(d):
        rows = [(s, e, v.strip()) for (s, e), v in _sanitised(d).items() if (v or "").strip()]
        rows.sort(key=lambda r: r[0])  # keys arrive by start time (the extractor prompt asks for it)
        return sorted(rows, key=lambda r: (r[0] + r[1]) / 2)

    pred, gold = claims(oracle), claims(reference)
    if not pred or not gold:
        return 0.0
    pe = [torch.from_numpy(table[p[2]]) for p in pred]
    ge = [torch.from_numpy(table[g[2]]) for g in gold]
    hits = release_greedy([p[:2] for p in pred], [g[:2] for g in gold], pe, ge, buffer, threshold)
    return hits / max(1, len(pred))


class TableEmbedder:
    name = "table"

    def __init__(self, table):
        self.table = table

    def encode(self, texts):
        return np.stack([self.table[t] for t in texts])


# --- vr2 --------------------------------------------------------------------------------------

def oracle_claims(oracle: dict) -> list[Claim]:
    return reference_claims(oracle)


def release_read(d: dict) -> list[Claim]:
    """A grounding dict read the release's way, as vr2 claims (for the matching-core check)."""
    return [Claim(float(s), float(e), v) for (s, e), v in _sanitised(d).items()]


def classify(oracle: dict, reference: dict, think_claims: list[Claim]) -> str:
    """Why vr2 end to end differs from the release on one trace."""
    ours_ref = {(round(c.start), round(c.end)) for c in reference_claims(reference)}
    if ours_ref != set(_sanitised(reference)):
        return "reference read differently (bad-key rule: the release reads 00:75 as 75 s)"
    ours = {(round(c.start), round(c.end)) for c in think_claims}
    if ours != set(_sanitised(oracle)):
        return "rule extractor found other times than the oracle"
    return "same times, rule extractor's clause text differs from the oracle's"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many differing traces")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = [make_trace(rng) for _ in range(args.traces)]

    # One MiniLM encode of every sentence, shared by both sides, so that the comparison is
    # about the algorithms (and fast): vr2 reads its vectors from the table, the release takes
    # util.cos_sim of the same vectors.
    minilm = SentenceTransformerEmbedder(minilm_path())
    texts = {v for _, o, r in cases for d in (o, r) for v in d.values()}
    texts |= {c.text for completion, _, _ in cases
              for c in RuleExtractor().extract(completion.split("<think>")[1].split("</think>")[0])}
    texts = sorted(texts)
    table = dict(zip(texts, minilm.encode(texts)))
    embedder = TableEmbedder(table)
    scorer = TarScorer(embedder, TarSettings(buffer_seconds=2, tau=0.75, matching="greedy"))
    optimal = TarScorer(embedder, TarSettings(buffer_seconds=2, tau=0.75, matching="optimal"))
    extractor = RuleExtractor()

    began = time.perf_counter()
    core_equal, e2e_equal, causes, diffs = 0, 0, Counter(), []
    optimal_equal, optimal_diffs = 0, []
    for completion, oracle, reference in cases:
        released = release_tar(oracle, reference, table)
        ref = reference_claims(reference)
        same_ref = release_read(reference)
        core = scorer.score(release_read(oracle), same_ref).precision
        core_equal += core == released
        best = optimal.score(release_read(oracle), same_ref).precision
        optimal_equal += best == released
        if best != released:
            optimal_diffs.append(best - released)
        think = completion.split("<think>")[1].split("</think>")[0]
        ours = extractor.extract(think)
        e2e = scorer.score(ours, ref).precision
        if e2e == released:
            e2e_equal += 1
        else:
            causes[classify(oracle, reference, ours)] += 1
            diffs.append(e2e - released)
            if len(diffs) <= args.show:
                print(f"--- vr2 {e2e:.3f} release {released:.3f}\n{think}\noracle {oracle}\n"
                      f"vr2 {[(c.start, c.end, c.text) for c in ours]}\nref {reference}")
    seconds = time.perf_counter() - began
    n = len(cases)
    print(f"traces: {n} (seed {args.seed}), {seconds:.1f} s")
    print(f"matching core (same claims): greedy == release on {core_equal}/{n} ({100 * core_equal / n:.1f}%)")
    print(f"end to end (rule extractor vs oracle extraction): equal on {e2e_equal}/{n} "
          f"({100 * e2e_equal / n:.1f}%)")
    print(f"default optimal mode (same claims) == release on {optimal_equal}/{n}"
          + (f"; where not, TAR {np.mean(optimal_diffs):+.3f} on average" if optimal_diffs else ""))
    if diffs:
        print(f"  differing traces: mean TAR difference {np.mean(diffs):+.3f}, "
              f"mean |difference| {np.mean(np.abs(diffs)):.3f}")
        for cause, count in causes.most_common():
            print(f"  {cause}: {count}")


if __name__ == "__main__":
    main()
