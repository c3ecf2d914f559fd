"""TAR throughput: vr2 versus the official algorithm, on one GRPO-shaped batch.

Batch: 8 prompts x 8 generations = 64 completions of ~10 claims each; the 8 completions of a
prompt share its reference (8 claims). Same embedder (all-MiniLM-L6-v2) for everything.

- official: what the release does per completion, with the release's encoder (sentence-transformers
  on torch): encode that completion's claims and its reference claims, cosine per pair in Python,
  greedy matching.
- vr2: `TarScorer.score_batch` with the default `minilm` embedder (the same weights through ONNX
  Runtime) and a cold cache (every distinct sentence encoded once per batch), optimal matching.
- floor: one ONNX encode of the batch's distinct sentences, nothing else.

Then: equivalence of the two encoders (cosine on a few thousand sentences, TAR decisions on the
batch) and the cache hit rate over a simulated GRPO run (prompts recur across epochs).

Run: .venv/bin/python benchmarks/bench_tar.py [--repeats 3] [--device cuda] [--model DIR]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from vr2.scoring.claims import Claim
from vr2.scoring.embedding import CachedEmbedder, SentenceTransformerEmbedder, minilm_path
from vr2.plugins.registry import make_embedder
from vr2.scoring.matching import release_claims
from vr2.scoring.tar import TarScorer, TarSettings

PEOPLE = ["a man in a red shirt", "a woman with a ponytail", "the boy", "an old man", "the girl in a yellow coat",
          "a chef", "the driver", "a cyclist"]
ACTIONS = ["picks up the blue cup", "opens the front door", "pours water into a glass", "sits on the sofa",
           "waves at the camera", "puts the box on the table", "turns off the light", "starts the car",
           "writes on the whiteboard", "throws the ball"]
VARIANTS = ["{p} {a}", "{p} {a} slowly", "we see {p} as they {a}", "{p} then {a}", "{p} quickly {a}",
            "{p} carefully {a}", "it looks like {p} {a}", "{p} {a} near the window", "{p} {a} again",
            "on screen {p} {a}", "{p} {a} while talking", "{p} {a} in the background"]


def make_batch(seed: int = 0, prompts: int = 8, generations: int = 8):
    """Dense references (an event every 2-6 s, one protagonist per video, as in the released
    data) and completions that restate them with jittered times, paraphrases and distractors."""
    rng = random.Random(seed)
    batch = []
    for _ in range(prompts):
        person = rng.choice(PEOPLE)
        times = np.cumsum([rng.uniform(2, 6) for _ in range(8)]).round(0)
        ref = [Claim(float(t), float(t), f"{person.capitalize()} {rng.choice(ACTIONS)}.") for t in times]
        for _ in range(generations):
            pred = []
            for _ in range(rng.randint(8, 12)):
                anchor = rng.choice(ref)
                t = round(max(0.0, anchor.start + rng.uniform(-4, 4)), 1)
                action = anchor.text.rstrip(".")[len(person) + 1:]
                who = person if rng.random() < 0.8 else rng.choice(PEOPLE)
                if rng.random() < 0.2:
                    action = rng.choice(ACTIONS)
                pred.append(Claim(t, t, rng.choice(VARIANTS).format(p=who, a=action)))
            batch.append((pred, ref))
    return batch


def release_form(claims):
    """Claims as the release's LLM extractor hands them over: a dict keyed by the "MM:SS" of
    whole seconds (a repeated key keeps its first position and takes the last sentence), read
    back sorted by time (stable)."""
    keyed = {}
    for c in claims:
        t = int(round(c.start))
        keyed[f"{t // 60:02d}:{t % 60:02d}"] = c.text
    out = [(int(k[:2]) * 60 + int(k[3:]), text) for k, text in keyed.items() if text.strip()]
    return sorted(out, key=lambda c: c[0])


def official(model, batch, buffer_seconds=2, tau=0.75):
    """The release's algorithm after its LLM call, re-implemented: per completion, encode its
    claims and its reference claims in two calls, cosine per candidate pair, greedy."""
    # Imported here: tests load this file by path for `make_batch` alone, without sentence-transformers.
    from release_loop import release_greedy

    scores = []
    for pred, ref in batch:
        pred, ref = release_form(pred), release_form(ref)
        p = model.encode([text for _, text in pred])
        r = model.encode([text for _, text in ref])
        hits = release_greedy([(t, t) for t, _ in pred], [(t, t) for t, _ in ref], p, r, buffer_seconds, tau)
        scores.append(hits / max(1, len(pred)))
    return scores


def interleaved(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Best time of each function over `repeats` rounds, run in turn so that load from other
    processes hits all of them alike."""
    best = {name: float("inf") for name in fns}
    out = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            out[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, out


def decisions(results) -> list[list[tuple[int, int]]]:
    return [[(m.pred, m.ref) for m in r.matches] for r in results]


def equivalence(onnx, torch_st, sentences: int) -> None:
    """Cosine between the two encoders' vectors, and TAR decisions on the benchmark batch."""
    places = ["", " in the kitchen", " at night", " outdoors", " for the second time", " on a sunny day"]
    every = [v.format(p=p, a=a) + place for v in VARIANTS for p in PEOPLE for a in ACTIONS for place in places]
    corpus = random.Random(0).sample(every, min(sentences, len(every)))
    cos = (onnx.encode(corpus) * torch_st.encode(corpus)).sum(axis=1)
    print(f"equivalence: {len(corpus)} distinct sentences, cosine onnx vs sentence-transformers "
          f"min {cos.min():.7f}, mean {cos.mean():.7f}")
    for seed in (0, 1, 2):
        batch = make_batch(seed)
        same = decisions(TarScorer(onnx).score_batch(batch)) == decisions(TarScorer(torch_st).score_batch(batch))
        print(f"  batch seed {seed}: TAR matches identical for all {len(batch)} completions: {same}")


def cache_run(embedder, steps: int, pool: int) -> None:
    """GRPO-shaped steps (8 prompts x 8 generations) drawn from a pool of `pool` prompts, so
    references recur once the run passes an epoch; one cache for the whole run, as in training."""
    batches = [make_batch(seed=1000 + k) for k in range(pool // 8)]
    prompts = [b[i:i + 8] for b in batches for i in range(0, len(b), 8)]
    rng = random.Random(0)
    cached = CachedEmbedder(embedder)
    scorer = TarScorer(cached)
    rates = []
    for step in range(steps):
        chosen = rng.sample(prompts, 8)
        # fresh completions each step: regenerate the predictions, keep each prompt's reference
        fresh = make_batch(seed=5000 + step)
        batch = [(fresh[i * 8 + g][0], chosen[i][g][1]) for i in range(8) for g in range(8)]
        before = (cached.hits, cached.misses)
        scorer.score_batch(batch)
        hits, misses = cached.hits - before[0], cached.misses - before[1]
        rates.append(hits / (hits + misses))
    print(f"cache over {steps} GRPO steps from {pool} prompts: hit rate {cached.hit_rate:.1%} overall "
          f"(step 1 {rates[0]:.1%}, last step {rates[-1]:.1%}), {len(cached._cache)} sentences kept")


def measure(embedder, release, repeats: int, batch=None) -> dict:
    """Time vr2, the release's loop and the encode floors on one batch (same device for both
    encoders), and compare their decisions. Used by main() and by gpu_check.py."""
    batch = batch or make_batch()
    embedder.encode(["warm up"])
    release.encode(["warm up"])
    unique = list(dict.fromkeys(c.text for p, r in batch for c in (*p, *r)))
    times, outs = interleaved({
        "floor": lambda: embedder.encode(unique),
        "vr2": lambda: TarScorer(CachedEmbedder(embedder)).score_batch(batch),
        "official": lambda: official(release._model, batch),
        "torch floor": lambda: release.encode(unique),
    }, repeats)
    theirs = outs["official"]
    greedy = TarScorer(CachedEmbedder(embedder), TarSettings(matching="greedy"))
    greedy_scores = [r.precision for r in greedy.score_batch(batch)]
    # Greedy against optimal on the same (release-form) claims: how often greedy loses a pair.
    same_claims = [(release_claims(p), release_claims(r)) for p, r in batch]
    optimal_p = [r.precision for r in TarScorer(CachedEmbedder(embedder)).score_batch(same_claims)]
    return {
        "completions": len(batch), "predicted_claims": sum(len(p) for p, _ in batch), "distinct_sentences": len(unique),
        "official_s": times["official"], "vr2_s": times["vr2"], "floor_s": times["floor"],
        "torch_floor_s": times["torch floor"], "speedup_vs_official": times["official"] / times["vr2"],
        "vr2_over_floor": times["vr2"] / times["floor"],
        "greedy_equals_official": sum(abs(g - t) < 1e-9 for g, t in zip(greedy_scores, theirs)),
        "greedy_below_optimal": sum(g < o - 1e-9 for g, o in zip(greedy_scores, optimal_p)),
        "mean_tar_greedy": float(np.mean(greedy_scores)), "mean_tar_optimal": float(np.mean(optimal_p)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=3000, help="for the equivalence check")
    parser.add_argument("--steps", type=int, default=20, help="GRPO steps for the cache hit rate")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for both encoders (0: their defaults); 1 gives a per-core ratio "
                             "that CPU contention from other processes distorts least")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda to encode both sides on the GPU")
    parser.add_argument("--model", default="", help="a MiniLM-shaped sentence-transformers folder (default: the "
                        "packaged all-MiniLM-L6-v2; gpu_check.py writes a random-init one of the same config)")
    args = parser.parse_args()
    model = args.model or minilm_path()
    # On a GPU both sides encode there: the release loaded `SentenceTransformer('all-MiniLM-L6-v2')`
    # with its default device, i.e. the training GPU; vr2's minilm then runs sentence-transformers.
    embedder = make_embedder("minilm", model=str(model), device=args.device)  # ONNX Runtime on the CPU
    if args.threads:
        import torch

        from vr2.scoring.onnx_embedding import OnnxEmbedder

        torch.set_num_threads(args.threads)
        embedder = OnnxEmbedder(model, threads=args.threads)
    release = SentenceTransformerEmbedder(model, device=args.device)  # the release's encoder
    m = measure(embedder, release, args.repeats)
    n, t_off, t_vr2, t_floor, t_tfloor = (m["completions"], m["official_s"], m["vr2_s"], m["floor_s"],
                                          m["torch_floor_s"])
    print(f"embedder: {type(embedder).__name__}; official encodes with {type(release).__name__}")
    print(f"batch: {n} completions, {m['predicted_claims']} predicted claims, {m['distinct_sentences']} distinct sentences")
    print(f"official     {t_off * 1000:8.1f} ms  {n / t_off:8.1f} completions/s")
    print(f"vr2          {t_vr2 * 1000:8.1f} ms  {n / t_vr2:8.1f} completions/s")
    print(f"floor        {t_floor * 1000:8.1f} ms  (one encode of the distinct sentences)")
    print(f"torch floor  {t_tfloor * 1000:8.1f} ms  (the same with sentence-transformers)")
    print(f"speed-up vs official: {t_off / t_vr2:.1f}x;  vr2 / floor: {t_vr2 / t_floor:.2f}x;  "
          f"encoder speed-up (torch floor / floor): {t_tfloor / t_floor:.1f}x")
    print(f"greedy scored lower than optimal on {m['greedy_below_optimal']}/{n} completions, same claims "
          f"(mean TAR greedy {m['mean_tar_greedy']:.3f} vs optimal {m['mean_tar_optimal']:.3f})")
    print(f"vr2 greedy mode reproduces the official loop on {m['greedy_equals_official']}/{n} completions")
    if args.threads:
        print(f"threads: {args.threads} for each encoder")
    print(f"device: {args.device}")
    equivalence(embedder, release, args.sentences)
    cache_run(embedder, args.steps, pool=32)


if __name__ == "__main__":
    main()
