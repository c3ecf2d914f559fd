"""Frame sampling anchor: vr2's `sample_video` versus qwen-vl-utils' `fetch_video` (decord
backend), which the official release and most Qwen2.5-VL users call, on the same file.

Both sample the eval protocol (2 fps, at most 128 frames, at most 151,200 pixels per frame) and
resize; vr2 runs with overlays off so both do the same work. Best of `--repeat`, interleaved.
qwen-vl-utils and decord are not vr2 dependencies; install them for this benchmark only:

  .venv/bin/pip install qwen-vl-utils decord
  FORCE_QWENVL_VIDEO_READER=decord .venv/bin/python benchmarks/bench_video_anchor.py [--seconds 60 --size 1280x720]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from vr2.devtools.synthetic import write_test_video
from vr2.video.sampling import sample_video


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720", help="WxH")
    parser.add_argument("--gop", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    from qwen_vl_utils import fetch_video  # reads the backend choice at import

    width, height = map(int, args.size.split("x"))
    path = Path(tempfile.mkdtemp()) / "clip.mp4"
    started = time.perf_counter()
    write_test_video(path, seconds=args.seconds, fps=30, size=(width, height), gop=args.gop, pattern="motion")
    print(f"file: {args.seconds:g} s {args.size} 30 fps h264 GOP {args.gop}, "
          f"{path.stat().st_size / 1e6:.1f} MB (made in {time.perf_counter() - started:.1f} s); "
          f"qwen-vl-utils backend {os.environ['FORCE_QWENVL_VIDEO_READER']}")

    def ours():
        v = sample_video(path, fps=2.0, max_frames=128, max_pixels=151_200, timestamp_overlay=False,
                         subtitles=None)
        return v.frames.shape

    def qwen():
        video = fetch_video({"video": str(path), "fps": 2.0, "max_frames": 128, "max_pixels": 151_200})
        return tuple(video.shape)

    best = {"vr2": float("inf"), "qwen-vl-utils": float("inf")}
    shapes = {}
    for _ in range(args.repeat):
        for name, fn in (("vr2", ours), ("qwen-vl-utils", qwen)):
            start = time.perf_counter()
            shapes[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:14s} {seconds:6.2f} s  frames {shapes[name]}")
    print(f"qwen-vl-utils / vr2: {best['qwen-vl-utils'] / best['vr2']:.2f}x")


if __name__ == "__main__":
    main()
