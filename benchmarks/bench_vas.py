"""Cost of `vas_attn` (one teacher-forced forward with the attention probe) as a share of the
generation it scores, on the tiny Qwen2.5-VL, over a grid of frame counts and generated tokens.

The tiny model writes noise, so each generation is forced to its full length (min_new_tokens)
and its ids are rewritten as `<think> ... </think>` of the same length, making every generated
token a reasoning query as in a real trace. Both passes run on the same inputs in one process;
the fitted lines let you predict other sizes:
  generate ~ a + b * frames + c * tokens      (prefill grows with frames, decoding with tokens)
  vas      ~ d + e * (prompt + tokens)         (one forward over the whole sequence)

Run: .venv/bin/python benchmarks/bench_vas.py [--frames 8 16 32 --tokens 32 128 --size 112x168]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import vr2.model.runtime as model_module
from vr2.model.runtime import generate_batch, load_model
from vr2.devtools.tiny import build_tiny_model
from vr2.model.vas import vas_attn
from vr2.video.sampling import SampledVideo


def clip(frames: int, height: int, width: int) -> SampledVideo:
    pixels = np.random.default_rng(frames).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    times = [k * 0.5 for k in range(frames)]
    return SampledVideo(path="random.mp4", frames=pixels, times=times, frame_indices=list(range(frames)),
                        source_fps=2.0, duration=frames / 2, sample_fps=2.0)


def force_length(tokens: int):
    """Make generate_batch produce exactly `tokens` new tokens (the tiny model may stop early)."""
    original = model_module.generation_config

    def fixed(loaded, max_new_tokens, temperature, top_p):
        config = original(loaded, max_new_tokens, temperature, top_p)
        config.min_new_tokens = tokens
        return config

    model_module.generation_config = fixed
    return original


def as_reasoning(loaded, generation) -> None:
    import torch

    tok = loaded.tokenizer
    opening, closing = tok.encode("<think>"), tok.encode("</think>")
    n = int(generation.output_ids.shape[0])
    middle = generation.output_ids.tolist()[len(opening):n - len(closing)]
    generation.output_ids = torch.tensor(opening + middle + closing)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--tokens", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--size", default="112x168", help="HxW of each frame")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    height, width = map(int, args.size.split("x"))
    loaded = load_model(str(build_tiny_model(Path(tempfile.mkdtemp()) / "model", seed=0)), device="cpu")
    generate_batch(loaded, [(clip(4, height, width), "warm up", None)], max_new_tokens=4)
    rows = []
    print(f"{'frames':>6} {'tokens':>6} {'video tok':>9} {'seq len':>7} {'generate s':>10} {'vas s':>7} {'vas/gen':>7}")
    for frames in args.frames:
        video = clip(frames, height, width)
        for tokens in args.tokens:
            original = force_length(tokens)
            best_gen = best_vas = float("inf")
            try:
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    (generation,) = generate_batch(loaded, [(video, "What happens?", ["a", "b"])],
                                                   max_new_tokens=tokens)
                    best_gen = min(best_gen, time.perf_counter() - start)
                    as_reasoning(loaded, generation)
                    start = time.perf_counter()
                    result = vas_attn(loaded, generation)
                    best_vas = min(best_vas, time.perf_counter() - start)
            finally:
                model_module.generation_config = original
            length = int(generation.prompt_ids.shape[0]) + int(generation.output_ids.shape[0])
            rows.append((frames, tokens, result.video_token_count, length, best_gen, best_vas))
            print(f"{frames:6d} {tokens:6d} {result.video_token_count:9d} {length:7d} {best_gen:10.3f} "
                  f"{best_vas:7.3f} {best_vas / best_gen:7.2f}")
    data = np.array(rows, dtype=float)
    gen_fit, *_ = np.linalg.lstsq(np.c_[np.ones(len(data)), data[:, 0], data[:, 1]], data[:, 4], rcond=None)
    vas_fit, *_ = np.linalg.lstsq(np.c_[np.ones(len(data)), data[:, 3]], data[:, 5], rcond=None)
    print(f"fit: generate ~ {gen_fit[0]:.3f} + {gen_fit[1] * 1000:.2f} ms/frame + {gen_fit[2] * 1000:.2f} ms/token")
    print(f"fit: vas      ~ {vas_fit[0]:.3f} + {vas_fit[1] * 1e6:.1f} us per sequence position")
    print(f"mean vas/generate over the grid: {np.mean(data[:, 5] / data[:, 4]):.2f}")


if __name__ == "__main__":
    main()
