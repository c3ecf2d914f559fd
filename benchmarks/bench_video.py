"""Benchmark: vr2's frame sampling against decoding everything, and against the least decoding possible.

On an h264 file made here with `vr2.devtools.synthetic` ("motion" pattern, 30 fps; by default 60 s at
1280x720), for the paper's sampling protocols it times:

- naive: decode every frame, keep the ones nearest the wanted times, resize those;
- vr2: `sample_video` (overlays off, so the work matches; and with overlays, for the real cost);
- minimum: decode only the packets from each needed GOP's keyframe up to its last wanted frame,
  from packets already in memory (no I/O, no seeking), and resize the kept frames: a lower bound
  for the same output.

Run: PYTHONPATH=src python benchmarks/bench_video.py [--gop 60 --gop 0] [--repeat 5]
         [--seconds 60 --size 1280x720] [--markdown BENCHMARKS.md]
With --markdown, the "## Video sampling" section of that file is replaced (or appended).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vr2.devtools.synthetic import write_test_video
from vr2.config import load_recipe
from vr2.video.sampling import VideoSettings, fit_pixels, sample_times, video_settings

FPS = 30
RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CASES = {
    # The shipped recipes' [video] sections, as each stage samples them.
    "eval (2 fps, <=128)": video_settings(load_recipe(None).video),
    "sft (1 fps, <=128)": video_settings(load_recipe(RECIPES / "sft.toml").video),
    "grpo (2 fps, <=32)": video_settings(load_recipe(RECIPES / "grpo.toml").video),
    "8 frames": VideoSettings(fps=2.0, max_frames=8),
}


def naive(path: Path, settings: VideoSettings) -> tuple[np.ndarray, int]:
    """Decode every frame; keep the nearest frame for each wanted time; resize the kept ones."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        source_fps = float(stream.average_rate)
        duration = float(stream.duration * stream.time_base)
        targets, _ = sample_times(duration, fps=settings.fps, max_frames=settings.max_frames, source_fps=source_fps)
        height, width = fit_pixels(
            stream.height, stream.width, min_pixels=settings.min_pixels, max_pixels=settings.max_pixels
        )
        half = 0.5 / source_fps
        kept, k, decoded = [], 0, 0
        for frame in container.decode(stream):
            decoded += 1
            while k < len(targets) and frame.time >= targets[k] - half:
                kept.append(frame)
                k += 1
        frames = np.stack(
            [f.to_ndarray(width=width, height=height, format="rgb24", interpolation="BICUBIC") for f in kept]
        )
    return frames, decoded


def load_packets(path: Path):
    """All video packets in decode order, with the frame index each presents, and GOP starts."""
    import av

    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # as vr2 and naive decode
    packets = [p for p in container.demux(stream) if p.size]
    return container, stream, packets


def minimum(container, stream, packets, indices: list[int], size: tuple[int, int]) -> int:
    """Decode, per needed GOP, from its keyframe until its last wanted frame is out, resizing the
    wanted frames; return the number of frames decoded."""
    height, width = size
    fps = float(stream.average_rate)
    wanted = sorted(set(indices))
    wanted_set = set(wanted)
    keys = [i for i, p in enumerate(packets) if p.is_keyframe]
    key_index = [round(float(packets[i].pts * stream.time_base) * fps) for i in keys]
    groups: dict[int, int] = {}  # keyframe packet position -> last wanted frame index in its GOP
    for index in wanted:
        g = max(j for j, start in enumerate(key_index) if start <= index)
        groups[keys[g]] = max(groups.get(keys[g], -1), index)
    codec = stream.codec_context
    decoded = 0
    for start, last in groups.items():
        codec.flush_buffers()
        done = False
        for packet in packets[start:]:
            for frame in codec.decode(packet):
                decoded += 1
                index = round(frame.time * fps)
                if index in wanted_set:
                    frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BICUBIC")
                if index >= last:
                    done = True
            if done:
                break
        if not done:  # end of stream: drain the decoder
            for frame in codec.decode(None):
                decoded += 1
    return decoded


def timed_together(functions: dict, repeat: int) -> dict:
    """Best-of-`repeat` seconds and last result per function, runs interleaved so that a busy
    spell on a shared machine hits every method alike."""
    seconds: dict = {name: [] for name in functions}
    results: dict = {}
    for _ in range(repeat):
        for name, function in functions.items():
            began = time.perf_counter()
            results[name] = function()
            seconds[name].append(time.perf_counter() - began)
    return {name: (min(seconds[name]), results[name]) for name in functions}


def run(gop: int | None, repeat: int, workdir: Path, seconds: float, size: tuple[int, int]) -> list[str]:
    path = workdir / f"bench_{gop or 'default'}.mp4"
    began = time.perf_counter()
    write_test_video(path, seconds=seconds, fps=FPS, size=size, gop=gop, pattern="motion")
    made = time.perf_counter() - began
    container, stream, packets = load_packets(path)
    keyframes = sum(p.is_keyframe for p in packets)
    gop_text = f"GOP {gop} frames ({gop / FPS:.1f} s)" if gop else "x264 default GOP (keyint 250 = 8.3 s)"
    lines = [
        f"File: {seconds:g} s, {size[0]}x{size[1]}, {FPS} fps h264, {gop_text}, {keyframes} keyframes, "
        f"{path.stat().st_size / 1e6:.1f} MB (made in {made:.1f} s).",
        "",
        "| protocol | frames | naive s (decoded) | vr2 s (decoded) | vr2 + overlays s | minimum decode s (decoded) "
        "| naive / vr2 | vr2 / minimum |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, settings in CASES.items():
        plain = VideoSettings(settings.fps, settings.max_frames, settings.min_pixels, settings.max_pixels, False, None)
        video = plain.sample(path)
        size = video.frames.shape[1:3]
        runs = timed_together(
            {
                "naive": lambda: naive(path, plain),
                "vr2": lambda: plain.sample(path),
                "overlays": lambda: settings.sample(path),
                "minimum": lambda: minimum(container, stream, packets, video.frame_indices, size),
            },
            repeat,
        )
        t_naive, (naive_frames, naive_decoded) = runs["naive"]
        t_vr2, video = runs["vr2"]
        t_overlay = runs["overlays"][0]
        t_min, min_decoded = runs["minimum"]
        assert np.array_equal(naive_frames, video.frames), "naive and vr2 must keep the same frames"
        lines.append(
            f"| {name} | {len(video.times)} | {t_naive:.2f} ({naive_decoded}) | {t_vr2:.2f} ({video.decoded_frames}) "
            f"| {t_overlay:.2f} | {t_min:.2f} ({min_decoded}) | {t_naive / t_vr2:.1f}x | {t_vr2 / t_min:.2f}x |"
        )
        print(lines[-1], flush=True)
    container.close()
    return lines


def update_markdown(path: Path, section: str) -> None:
    """Replace the '## Video sampling' section of `path` (up to the next '## '), or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = "## Video sampling"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gop", type=int, action="append", help="keyframe interval(s) in frames; 0 = x264 default")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the test video")
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the test video")
    parser.add_argument("--markdown", type=Path, help="file whose '## Video sampling' section to rewrite")
    args = parser.parse_args()
    gops = [g or None for g in (args.gop or [60, 0])]
    command = "PYTHONPATH=src python benchmarks/bench_video.py " + " ".join(sys.argv[1:])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    import av

    lines = [
        "## Video sampling",
        "",
        f"Command: `{command.strip()}` ({machine}, PyAV {av.__version__}, best of {args.repeat} interleaved runs).",
        "naive = decode every frame then pick; vr2 = `sample_video` with overlays off (same output as naive, "
        "checked), then with overlays on; minimum = decode only the packets from each needed GOP's keyframe "
        "to its last kept frame, from memory, and resize the kept frames (lower bound for the same output). Times in seconds; decoded frame counts in brackets.",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for gop in gops:
            size = tuple(int(v) for v in args.size.lower().split("x"))
            lines += run(gop, args.repeat, Path(tmp), args.seconds, size)
            lines.append("")
    section = "\n".join(lines)
    print(section)
    if args.markdown:
        update_markdown(args.markdown, section)


if __name__ == "__main__":
    main()
