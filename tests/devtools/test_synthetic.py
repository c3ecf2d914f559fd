"""The synthetic test video: fast, deterministic, and every frame identifies itself."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vr2.errors import Vr2Error
from vr2.devtools.synthetic import make_frame, read_frame_number, second_colour, write_test_video


def _decode_all(path):
    import av

    with av.open(str(path)) as container:
        return [(frame.time, frame.key_frame, frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]


def test_fast_and_deterministic_frames(tmp_path):
    began = time.perf_counter()
    first = write_test_video(tmp_path / "a.mp4", seconds=3)
    elapsed = time.perf_counter() - began
    second = write_test_video(tmp_path / "b.mp4", seconds=3)
    assert elapsed < 10.0  # ~0.1 s idle; only a pathological slowdown fails (timings live in benchmarks/)
    for index in range(30):
        assert np.array_equal(make_frame(index), make_frame(index))
    # The encoded bytes may differ in rare runs (module docstring); what is read back may not.
    a, b = _decode_all(first), _decode_all(second)
    assert [(t, read_frame_number(x)) for t, _, x in a] == [(t, read_frame_number(x)) for t, _, x in b]
    assert max(np.abs(x.astype(int) - y.astype(int)).mean() for (_, _, x), (_, _, y) in zip(a, b)) < 2.0


def test_every_frame_identifies_its_time(tmp_path):
    path = write_test_video(tmp_path / "v.mp4", seconds=6, fps=10)
    frames = _decode_all(path)
    assert len(frames) == 60
    for index, (t, _, pixels) in enumerate(frames):
        assert t == pytest.approx(index / 10)
        assert read_frame_number(pixels) == index
        # A corner pixel shows the background colour of the frame's second.
        assert np.abs(pixels[5, -5].astype(int) - second_colour(index // 10)).max() < 24


def test_gop_sets_keyframe_interval(tmp_path):
    path = write_test_video(tmp_path / "g.mp4", seconds=5, fps=10, gop=10)
    keys = [round(t, 3) for t, key, _ in _decode_all(path) if key]
    assert keys == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_motion_pattern_and_other_containers(tmp_path):
    path = write_test_video(tmp_path / "m.mkv", seconds=1, fps=10, size=(160, 96), pattern="motion")
    frames = _decode_all(path)
    assert [read_frame_number(p) for _, _, p in frames] == list(range(10))
    assert not np.array_equal(frames[0][2][:30], frames[1][2][:30])  # it moves


def test_barcode_survives_resizing():
    from PIL import Image

    frame = make_frame(1234, size=(320, 240))
    small = np.asarray(Image.fromarray(frame).resize((160, 120), Image.BICUBIC))
    assert read_frame_number(small) == 1234


def test_bad_arguments():
    with pytest.raises(Vr2Error, match="size"):
        write_test_video("/tmp/never.mp4", size=(321, 240))
    with pytest.raises(Vr2Error, match="pattern"):
        write_test_video("/tmp/never.mp4", pattern="stripes")
