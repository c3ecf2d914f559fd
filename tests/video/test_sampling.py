"""Video sampling: exact frame times, overlays read back from pixels, budgets, errors, processor."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.devtools.synthetic import make_frame, read_frame_number, write_test_video
from vr2.video.sampling import (
    VideoSettings,
    draw_subtitle,
    draw_timestamp,
    fit_pixels,
    format_hms,
    probe_video,
    sample_times,
    sample_video,
    video_settings,
)

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
GOP = 20  # frames: a keyframe every 2 s at 10 fps


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """20 s, 10 fps, 320x240, keyframe every 2 s; frame i is at exactly i / 10 s."""
    return write_test_video(tmp_path_factory.mktemp("v") / "clip.mp4", gop=GOP)


@pytest.fixture(scope="module")
def decoded(clip):
    """Every frame of `clip` decoded the plain way: {frame index: (pts time, av frame)}."""
    import av

    with av.open(str(clip)) as container:
        frames = {}
        for frame in container.decode(video=0):
            frames[round(frame.time * 10)] = (float(frame.pts * frame.time_base), frame)
    return frames


def _reference(decoded, index, height=280, width=364):
    """The source frame resized exactly as sample_video resizes it."""
    frame = decoded[index][1]
    return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BICUBIC")


def test_times_are_the_decoders_pts(clip, decoded):
    video = sample_video(clip, fps=2.0, max_frames=128)
    assert len(video.times) == 40
    assert video.frame_indices == list(range(0, 200, 5))
    for t, index, pixels in zip(video.times, video.frame_indices, video.frames):
        assert t == decoded[index][0]  # exactly the pts the decoder gives that frame
        assert read_frame_number(pixels) == index
    assert video.sample_fps == 2.0 and video.source_fps == 10.0 and video.duration == 20.0


def test_frame_at_12_5_is_that_frame_and_reads_00_00_12(clip, decoded):
    video = sample_video(clip, fps=2.0, subtitles=None)
    k = video.times.index(12.5)
    frame = video.frames[k]
    assert video.frame_indices[k] == 125 and read_frame_number(frame) == 125
    raw = _reference(decoded, 125)
    # The sampled frame is the decoder's 12.5 s frame with "00:00:12" drawn on it, pixel for pixel.
    assert np.array_equal(frame, draw_timestamp(raw, 12.5))
    assert format_hms(12.5) == "00:00:12"
    # And the overlay is really there and really says 12, not a neighbouring second.
    top_left = (slice(0, 50), slice(0, 140))
    assert np.abs(frame[top_left].astype(int) - raw[top_left]).max() > 100
    for other in (11.0, 13.0, 2.0):
        assert not np.array_equal(frame[top_left], draw_timestamp(raw, other)[top_left])
    # Outside the overlay, the picture is untouched.
    assert np.array_equal(frame[100:], raw[100:])


def test_overlays_off_gives_plain_frames(clip, decoded):
    video = sample_video(clip, fps=1.0, max_frames=4, timestamp_overlay=False, subtitles=None)
    for index, pixels in zip(video.frame_indices, video.frames):
        assert np.array_equal(pixels, _reference(decoded, index))


def test_subtitle_drawn_only_during_its_cue(clip, tmp_path):
    video_path = tmp_path / "talk.mp4"
    video_path.write_bytes(clip.read_bytes())
    (tmp_path / "talk.srt").write_text("1\n00:00:05,000 --> 00:00:07,000\nThe <b>answer</b> is forty-two.\n")
    plain = sample_video(video_path, fps=2.0, subtitles=None)
    auto = sample_video(video_path, fps=2.0)  # "auto" finds talk.srt
    assert auto.subtitle_file == str(tmp_path / "talk.srt")
    bottom = slice(int(280 * 0.75), 280)
    for t, a, p in zip(auto.times, auto.frames, plain.frames):
        changed = not np.array_equal(a[bottom], p[bottom])
        assert changed == (5.0 <= t < 7.0), t
        assert np.array_equal(a[: int(280 * 0.6)], p[: int(280 * 0.6)])  # barcode and clock untouched
    # Explicit path, and explicit "off".
    other = tmp_path / "other.srt"
    other.write_text("00:00:00,000 --> 00:00:01,000\nhi\n")
    assert not np.array_equal(sample_video(video_path, fps=1, subtitles=other).frames[0], plain.frames[0])
    with pytest.raises(Vr2Error, match="nope.srt"):
        sample_video(video_path, subtitles=tmp_path / "nope.srt")


def test_draw_subtitle_wraps_long_text_inside_the_frame():
    frame = np.zeros((280, 364, 3), dtype=np.uint8)
    out = draw_subtitle(frame, "word " * 200)
    rows = np.nonzero(out.max(axis=(1, 2)))[0]
    assert rows.min() > 280 * 0.6  # at most three lines, kept at the bottom
    assert draw_subtitle(frame, "   ").sum() == 0


def test_start_end_window(clip):
    video = sample_video(clip, fps=1.0, start=3.3, end=9.1)
    # floor(5.8 s x 1 fps) = 5 frames, rounded down to even: 4, every second from 3.3 s.
    assert video.times == [3.3, 4.3, 5.3, 6.3]
    assert [read_frame_number(f) for f in video.frames] == [33, 43, 53, 63]
    with pytest.raises(Vr2Error, match="start"):
        sample_video(clip, start=25.0)
    with pytest.raises(Vr2Error, match="end"):
        sample_video(clip, start=5.0, end=4.0)


def test_max_frames_spread_uniformly(clip):
    video = sample_video(clip, fps=2.0, max_frames=8)
    assert video.times == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0, 17.5]
    assert video.sample_fps == pytest.approx(0.4)
    assert [read_frame_number(f) for f in video.frames] == video.frame_indices


def test_decodes_only_the_needed_gops(clip):
    video = sample_video(clip, fps=2.0, max_frames=8)
    # From each wanted frame's keyframe up to it: 1 + 6 + 11 + 16 frames, twice.
    minimum = sum(index % GOP + 1 for index in video.frame_indices)
    assert video.decoded_frames == minimum == 68
    assert sample_video(clip, fps=1.0, start=16.0, end=17.0).decoded_frames == 1


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_other_containers(tmp_path, suffix):
    # Matroska reads its keyframe index on the first seek; MPEG-TS has none, starts at a non-zero
    # time and seeks imprecisely: times must still be exact and relative to the stream start.
    path = write_test_video(tmp_path / f"v{suffix}", seconds=10, gop=GOP)
    for options in ({"fps": 2.0}, {"fps": 2.0, "max_frames": 4}, {"fps": 1.0, "start": 5.3}):
        video = sample_video(path, **options)
        assert [read_frame_number(f) for f in video.frames] == video.frame_indices
        assert video.times == pytest.approx([i / 10 for i in video.frame_indices], abs=1e-9)
    assert sample_video(path, fps=2.0).frame_indices == list(range(0, 100, 5))


def test_fps_above_source_is_capped(clip):
    video = sample_video(clip, fps=25.0, start=1.0, end=3.0)
    assert video.sample_fps == 10.0
    assert video.frame_indices == list(range(10, 30))


@pytest.mark.parametrize(
    ("duration", "fps", "max_frames", "start", "end", "count", "step"),
    [
        (20.0, 2.0, 128, None, None, 40, 0.5),
        (19.9, 2.0, 128, None, None, 38, 0.5),  # 39 rounded down to even
        (600.0, 2.0, 128, None, None, 128, 600 / 128),
        (600.0, 2.0, 31, None, None, 30, 20.0),  # odd max_frames: 30 spread frames
        (0.3, 2.0, 128, None, None, 1, 0.5),
        (60.0, 1.0, 128, 10.0, 20.0, 10, 1.0),
    ],
)
def test_sample_times_rule(duration, fps, max_frames, start, end, count, step):
    times, spacing = sample_times(duration, fps=fps, max_frames=max_frames, start=start, end=end)
    assert len(times) == count and spacing == pytest.approx(step)
    assert times[0] == (start or 0.0)


@given(
    duration=st.floats(0.05, 20_000),
    fps=st.floats(0.1, 30),
    max_frames=st.integers(1, 300),
    window=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
@settings(max_examples=300, deadline=None)
def test_sample_times_properties(duration, fps, max_frames, window):
    start, end = sorted(window)
    start, end = start * duration, end * duration
    if end - start < 1e-6 or start >= duration:
        return
    times, step = sample_times(duration, fps=fps, max_frames=max_frames, start=start, end=end)
    assert 1 <= len(times) <= max_frames
    assert len(times) == 1 or len(times) % 2 == 0
    assert times[0] == start and times[-1] < end + 1e-6
    assert step >= 1 / fps - 1e-9
    assert np.allclose(np.diff(times), step)


@given(
    height=st.integers(16, 4000),
    width=st.integers(16, 4000),
    budget=st.sampled_from([(100_352, 151_200), (3136, 1_003_520), (50_000, 60_000), (784, 784 * 4)]),
)
@settings(max_examples=400, deadline=None)
def test_fit_pixels_budget_and_multiples_of_28(height, width, budget):
    low, high = budget
    h, w = fit_pixels(height, width, min_pixels=low, max_pixels=high)
    assert h % 28 == 0 and w % 28 == 0 and h >= 28 and w >= 28
    assert h * w <= high
    ratio = max(height, width) / min(height, width)
    if ratio <= 3:
        assert h * w >= low
    if ratio <= 3 and min(h, w) >= 5 * 28:  # coarser grids cannot hold the aspect this well
        assert abs(math.log((w / h) / (width / height))) < 0.2


def test_pixel_budget_of_sampled_frames(clip, tmp_path):
    assert sample_video(clip, fps=0.5, max_frames=2).frames.shape == (2, 280, 364, 3)
    # The paper's budget on 16:9 HD: 280x504 = 141,120 pixels (<= 151,200).
    assert fit_pixels(720, 1280, min_pixels=100_352, max_pixels=151_200) == (280, 504)
    wide = write_test_video(tmp_path / "wide.mp4", seconds=1, fps=4, size=(640, 160))
    frames = sample_video(wide, fps=2, min_pixels=3136, max_pixels=50_000).frames
    assert frames.shape[1] % 28 == 0 and frames.shape[2] % 28 == 0
    assert frames.shape[1] * frames.shape[2] <= 50_000 and frames.shape[2] / frames.shape[1] == pytest.approx(4, rel=0.1)


def test_probe(clip):
    assert probe_video(clip) == {
        "duration": 20.0, "fps": 10.0, "frames": 200, "width": 320, "height": 240, "codec": "h264"
    }


def _bad_files(root, clip):
    import av

    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 50)
    (root / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    data = clip.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])  # index (moov) is at the end: lost
    # Index at the front ("faststart"), then half the data cut: the header promises 20 s.
    faststart = root / "fs_full.mp4"
    with av.open(str(faststart), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("h264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(100):
            frame = av.VideoFrame.from_ndarray(make_frame(index, size=(160, 120)), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = faststart.read_bytes()
    (root / "truncated_faststart.mp4").write_bytes(data[: len(data) // 2])
    with av.open(str(root / "audio.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for index in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


BAD = ["missing.mp4", "empty.mp4", "text.mp4", "random.mp4", "truncated.mp4", "truncated_faststart.mp4", "audio.mp4"]


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, clip):
    root = tmp_path_factory.mktemp("bad")
    _bad_files(root, clip)
    return root


@pytest.mark.parametrize("name", BAD)
def test_bad_files_raise_quickly_naming_the_file(bad_dir, name):
    path = bad_dir / name
    began = time.perf_counter()
    with pytest.raises(Vr2Error) as error:
        sample_video(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert time.perf_counter() - began < 2.0
    if name != "truncated_faststart.mp4":  # its header is intact: only decoding finds the cut
        with pytest.raises(Vr2Error, match=name):
            probe_video(path)


def test_directory_and_bad_options(clip, tmp_path):
    with pytest.raises(Vr2Error, match="directory"):
        sample_video(tmp_path)
    for options, name in [
        ({"fps": 0}, "fps"),
        ({"max_frames": 0}, "max_frames"),
        ({"min_pixels": 200_000}, "min_pixels"),
        ({"max_pixels": 100}, "max_pixels"),
    ]:
        with pytest.raises(Vr2Error, match=name):
            sample_video(clip, **options)


def test_settings_from_recipes(clip):
    """The paper's protocols come from the recipes: eval = the defaults, SFT and GRPO their files."""
    eval_ = video_settings(load_recipe(None).video)
    sft = video_settings(load_recipe(RECIPES / "sft.toml").video)
    grpo = video_settings(load_recipe(RECIPES / "grpo.toml").video)
    assert (eval_.fps, eval_.max_frames) == (2.0, 128)
    assert (sft.fps, sft.max_frames) == (1.0, 128)
    assert (grpo.fps, grpo.max_frames) == (2.0, 32)
    assert eval_.max_pixels == 151_200 and eval_.min_pixels == 100_352 and eval_.timestamp_overlay
    # The recipe's defaults and the sampler's are one protocol.
    assert eval_.frame_options() == VideoSettings().frame_options()
    video = grpo.sample(clip, start=2.0)
    assert len(video.times) == 32 and video.times[0] == 2.0
    assert VideoSettings(fps=1, max_frames=4, subtitles=None).kwargs()["subtitles"] is None


def test_subtitles_for():
    on, off = VideoSettings(subtitles=True), VideoSettings(subtitles=None)
    assert on.subtitles_for("own.srt") == "own.srt" and on.subtitles_for(None) == "auto"
    assert off.subtitles_for("own.srt") is None and VideoSettings(subtitles=False).subtitles_for("a.srt") is None
    assert VideoSettings(subtitles="other.srt").subtitles_for(None) == "other.srt"


def _tiny_processor():
    """A real Qwen2.5-VL processor around a throw-away word-level tokenizer (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers import Qwen2VLVideoProcessor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|video_pad|>", "<|image_pad|>"]
    vocab = {token: i for i, token in enumerate([*specials, "[UNK]", "hi"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="<|endoftext|>", additional_special_tokens=specials[1:]
    )
    video_processor = Qwen2VLVideoProcessor(min_pixels=100_352, max_pixels=151_200, cap_pixels_per_frame=False)
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer, video_processor=video_processor)


@pytest.mark.parametrize("options", [{"fps": 2.0, "max_frames": 128}, {"fps": 2.0, "max_frames": 8, "start": 3.0}])
def test_processor_gets_real_time_positions(clip, options):
    from transformers.video_utils import VideoMetadata

    processor = _tiny_processor()
    video = sample_video(clip, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = processor(text=["<|vision_start|><|video_pad|><|vision_end|> hi"], **video.processor_kwargs(),
                        return_tensors="pt")
    count, height, width = video.frames.shape[:3]
    # Frames go through unchanged (no resize): grid = (T / 2, H / 14, W / 14).
    assert out["video_grid_thw"].tolist() == [[count // 2, height // 14, width // 14]]
    seconds_per_grid = float(out["second_per_grid_ts"][0])
    assert seconds_per_grid == pytest.approx(2 / video.sample_fps, rel=1e-6)
    # Qwen2.5-VL's temporal position of grid g is g * second_per_grid_ts (x tokens_per_second):
    # it must advance like the frames' own times.
    for g in range(count // 2):
        assert g * seconds_per_grid == pytest.approx(video.times[2 * g] - video.times[0], abs=0.5 / video.source_fps + 1e-6)
    video_token = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert int((out["input_ids"] == video_token).sum()) == count // 2 * height // 28 * width // 28
    metadata = VideoMetadata(**video.metadata())
    assert metadata.sampled_fps == video.sample_fps  # exactly: the time step is the release's
    assert metadata.timestamps == pytest.approx([k / video.sample_fps for k in range(count)])


def test_the_time_step_is_the_releases_for_every_clip_length():
    """qwen-vl-utils' step is 2 / sample_fps; a frame count rounded from the source (33.3 s at 24 fps:
    1.009115 instead of 1.008838) moved the position ids of the last steps."""
    from transformers.video_utils import VideoMetadata

    from vr2.video.sampling import SampledVideo, release_frame_count

    for seconds in (33.3, 1.0, 7.77, 61.2, 3599.9):
        for source_fps in (23.976, 24.0, 29.97, 30.0, 60.0):
            total = int(seconds * source_fps)
            count = release_frame_count(total, source_fps, fps=2.0, max_frames=128)
            sample_fps = count / total * source_fps
            video = SampledVideo(path="v.mp4", frames=np.zeros((128, 28, 28, 3), np.uint8), times=[0.0] * 128,
                                 frame_indices=list(range(128)), source_fps=source_fps, duration=seconds,
                                 sample_fps=sample_fps)
            assert 2 / VideoMetadata(**video.metadata()).sampled_fps == 2 / sample_fps
    assert round(2 / (66 / 799 * 24), 6) == 1.008838  # the clip, as the release computes it


def test_every_stage_samples_what_the_recipe_says(tmp_path):
    """Train/eval parity: one [video] section gives the same frames to SFT and GRPO (the collator),
    `vr2 eval` (vr2 protocol), `vr2 explain` and `vr2 curate` teach; the paper protocol takes its
    rate, cap and budget from the same section."""
    from vr2.config import with_changes
    from vr2.curate.pipeline import frame_options
    from vr2.curate.teacher import prepare_request
    from vr2.eval import protocols
    from vr2.explain.explanation import sample as explain_sample
    from vr2.samples import Sample
    from vr2.train.collate import sample_frames

    path = write_test_video(tmp_path / "parity.mp4", seconds=6, fps=10, size=(128, 96))
    recipe = load_recipe(None, ["video.fps=1", "video.max_frames=4", "video.min_pixels=3136",
                                "video.max_pixels=12544"])
    sample = Sample(id="s", video=str(path), question="What colour?")
    train = sample_frames(sample, video_settings(recipe.video))
    evaluated = protocols.video(sample, recipe)
    explained = explain_sample(path, recipe)
    for other in (evaluated, explained):
        assert other.times == train.times and np.array_equal(other.frames, train.frames)
    taught = prepare_request("s", {"question": "What colour?", "answer_type": "multiple_choice"}, str(path),
                             None, frame_options(recipe), 64)
    assert [t for t, _ in taught.frames] == [round(t, 3) for t in train.times]
    assert len(train.times) == 4 and train.frames.shape[1] * train.frames.shape[2] <= 12544
    paper = protocols.video(sample, with_changes(recipe, "eval", protocol="paper"))
    assert len(paper.times) == 4 and paper.frames.shape[1] * paper.frames.shape[2] <= 12544
