"""Shared fixtures: a tiny random Qwen2.5-VL built once per test session, small videos and the smoke
data. At the repository root so that the plugin packages' tests (plugins/*/tests) share them with tests/."""

from __future__ import annotations

from pathlib import Path

import os
import shutil
import tempfile

import numpy as np
import pytest


def pytest_configure(config):
    """A fresh vr2 cache per session (also seen by CLI subprocesses): every run exercises the
    one-time ONNX export of MiniLM instead of reusing the user's cache."""
    if "VR2_CACHE_DIR" not in os.environ:
        config._vr2_cache = tempfile.mkdtemp(prefix="vr2-test-cache-")
        os.environ["VR2_CACHE_DIR"] = config._vr2_cache


def pytest_unconfigure(config):
    cache = getattr(config, "_vr2_cache", None)
    if cache:
        os.environ.pop("VR2_CACHE_DIR", None)
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-VL (seed 0) saved with save_pretrained; builds in well under a second."""
    from vr2.devtools.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def _sampled_video(seed: int = 0, frames: int = 4, height: int = 56, width: int = 84, fps: float = 2.0):
    """Random frames posing as a video sampled at `fps` from a 10 fps source."""
    from vr2.video.sampling import SampledVideo

    pixels = np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    step = round(10 / fps)
    indices = [k * step for k in range(frames)]
    return SampledVideo(
        path=f"random-{seed}.mp4",
        frames=pixels,
        times=[i / 10 for i in indices],
        frame_indices=indices,
        source_fps=10.0,
        duration=frames / fps,
        sample_fps=fps,
    )


@pytest.fixture(scope="session")
def make_video():
    """Factory: make_video(seed=0, frames=4, height=56, width=84, fps=2.0) -> SampledVideo."""
    return _sampled_video


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory) -> Path:
    """`vr2 synthetic` output (tiny model, 4 clips, subtitles, sft.json, grpo.json), built once."""
    from vr2.devtools.smoke import build_synthetic

    out = tmp_path_factory.mktemp("smoke") / "runs" / "smoke"
    build_synthetic(out)
    return out
