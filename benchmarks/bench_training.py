"""GRPO smoke step time: videos decoded in the trainer's process versus in DataLoader workers.

Builds the smoke set (`vr2 synthetic`) with clips of the given length and size, then runs the smoke
GRPO recipe for a few steps twice per round, interleaved: `data.num_workers=0` (every prompt's
video decoded in the main process, as before) and `data.num_workers=N` (decoded by worker
processes ahead of the trainer, `PromptEncoder.transform`). Reports the median of TRL's per-step
`step_time` (first step excluded: model warm-up) and the ratio.

Run: PYTHONPATH=src python benchmarks/bench_training.py [--workers 2] [--steps 6] [--rounds 2]
     [--seconds 60 --size 640x360]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(out: Path, seconds: int, size: tuple[int, int]) -> None:
    from vr2.devtools import smoke
    from vr2.devtools.synthetic import write_test_video

    smoke.build_synthetic(out)
    for clip in range(smoke.CLIPS):  # longer / larger clips than the smoke default, same questions
        write_test_video(out / "videos" / f"clip{clip}.mp4", seconds=seconds + clip, fps=smoke.FPS, size=size)


def step_times(out: Path, run: str, workers: int, steps: int, frames: int) -> list[float]:
    from vr2.config import load_recipe
    from vr2.train.data import load_samples
    from vr2.train.trl_backend import build_grpo_trainer

    recipe = load_recipe(REPO / "recipes" / "smoke" / "grpo.toml", [
        f'model.name_or_path="{out / "model"}"', f'data.train_file="{out / "grpo.json"}"',
        f'data.video_dir="{out / "videos"}"', f'data.subtitles_dir="{out / "subtitles"}"',
        f'trainer.output_dir="{out / run}"', f"trainer.max_steps={steps}", "trainer.save_steps=1000",
        f"data.num_workers={workers}", f"video.max_frames={frames}"])
    build_grpo_trainer(recipe, load_samples(recipe)).train()
    rows = [json.loads(line) for line in (out / run / "metrics.jsonl").read_text().splitlines()]
    return [float(row["step_time"]) for row in rows if "step_time" in row][1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--size", default="128x128")
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "smoke"
        build(out, args.seconds, (width, height))
        times: dict[int, list[float]] = {0: [], args.workers: []}
        for round_ in range(args.rounds):
            for workers in times:
                times[workers] += step_times(out, f"run-{round_}-{workers}", workers, args.steps, args.frames)
    main_process = statistics.median(times[0])
    in_workers = statistics.median(times[args.workers])
    print(f"clips {args.seconds}+ s {args.size}, {args.frames} frames, {args.rounds} rounds x {args.steps - 1} steps")
    print(f"decode in the trainer (num_workers=0): median step {main_process:.3f} s")
    print(f"decode in {args.workers} workers (num_workers={args.workers}): median step {in_workers:.3f} s")
    print(f"ratio: {main_process / in_workers:.2f}x")


if __name__ == "__main__":
    main()
