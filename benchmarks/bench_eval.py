"""Eval wall time: decoding ahead in worker processes (vr2.video.prefetch) versus decoding and
generating one after the other, on the tiny Qwen2.5-VL with real mp4s.

Measured in one process, interleaved:
- decode: `sample_video` for every sample, in this process (the eval protocol: 2 fps, <=128
  frames, <=151,200 pixels, timestamp overlay);
- generate: the engine on those already-decoded videos, batch by batch;
- sequential: `evaluate(..., eval.decode_workers=0)` (what vr2 did before);
- overlapped: `evaluate(..., eval.decode_workers=N)`.
The goal is overlapped <= 1.15 x max(decode, generate), against sequential ~ decode + generate.

Run: .venv/bin/python benchmarks/bench_eval.py [--videos 8 --seconds 30 --max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path



def main() -> None:
    # Imported here and not at the top: the decode workers (spawn) re-import this script as their
    # main module, and a top-level torch import would add its ~1.5 s to each worker's start.
    # `vr2 eval` itself gives its workers only the light CLI entry point to import.
    from vr2.config import load_recipe
    from vr2.devtools.synthetic import write_test_video
    from vr2.devtools.tiny import build_tiny_model
    from vr2.eval.protocols import video
    from vr2.eval.runner import TransformersEngine, chunks, evaluate
    from vr2.samples import Sample

    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="cap torch's threads (0: its default), e.g. to leave cores to the decoders")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    width, height = map(int, args.size.split("x"))
    root = Path(tempfile.mkdtemp(prefix="vr2-bench-eval-"))
    model = build_tiny_model(root / "model", seed=0)
    started = time.perf_counter()
    clips = [write_test_video(root / f"clip{k}.mp4", seconds=args.seconds, fps=30, size=(width, height),
                              gop=60, pattern="motion") for k in range(args.videos)]
    print(f"{args.videos} clips of {args.seconds:g} s {args.size} 30 fps h264 (made in "
          f"{time.perf_counter() - started:.1f} s); tiny model, {args.max_new_tokens} new tokens, "
          f"batch {args.batch_size}, {args.workers} decode workers")
    samples = [Sample(id=f"q{k}", video=str(c), question=f"What happens in clip {k}?",
                      options=["it moves", "it stays"], answer="A") for k, c in enumerate(clips)]
    base = [f'model.name_or_path="{model}"', f"eval.max_new_tokens={args.max_new_tokens}",
            f"eval.batch_size={args.batch_size}", "eval.vas_attn=false"]
    recipe = load_recipe(None, base)
    engine = TransformersEngine(recipe)
    engine.run([(video(samples[0], recipe), "warm up", None)], vas=False)

    def decode():
        return [video(s, recipe) for s in samples]

    videos = decode()

    def generate():
        for batch in chunks(list(zip(samples, videos)), args.batch_size):
            engine.run([(v, s.question, list(s.options)) for s, v in batch], vas=False)

    def run_eval(workers):
        def go():
            out = Path(tempfile.mkdtemp(dir=root))
            evaluate(load_recipe(None, [*base, f"eval.decode_workers={workers}"]), output_dir=out,
                     samples={"bench": samples}, engine=engine)
        return go

    fns = {"decode": decode, "generate": generate, "sequential": run_eval(0),
           "overlapped": run_eval(args.workers)}
    best = {name: float("inf") for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:11s} {seconds:7.2f} s")
    floor = max(best["decode"], best["generate"])
    print(f"decode + generate {best['decode'] + best['generate']:.2f} s;  max(decode, generate) {floor:.2f} s")
    print(f"sequential / max: {best['sequential'] / floor:.2f}x;  overlapped / max: "
          f"{best['overlapped'] / floor:.2f}x (goal <= 1.15x);  sequential / overlapped: "
          f"{best['sequential'] / best['overlapped']:.2f}x")


if __name__ == "__main__":
    main()
