"""Video sampling: the frames a Video-R2 model sees, with the time written on them.

Video-R2 feeds Qwen2.5-VL frames sampled at a fixed rate (eval 2 fps / <=128 frames, SFT 1 fps,
GRPO 2 fps / <=32: the recipes' `[video]` sections), each resized to a pixel budget, with its time `HH:MM:SS` drawn top-left and
the active SRT subtitle drawn bottom-centre, so that reasoning can cite times read off the frames.

`sample_video` decodes with PyAV and decodes only what it keeps: it uses the container's keyframe
index to seek to the keyframe before each wanted frame, and decodes forward instead when the
wanted frame is in the GOP already being decoded. Every kept frame carries the decoder's own
presentation time, and `SampledVideo.processor_kwargs()` hands frames plus matching metadata to
the transformers Qwen2.5-VL processor so the model's temporal positions follow real time.

`video_settings(recipe.video)` is the one translation of a recipe's `[video]` section into
sampling settings; training, evaluation, explain and curate all sample through it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, fields
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from vr2.errors import Vr2Error, first_line
from vr2.video.subtitles import Cue, cue_at, load_srt

PATCH_FACTOR = 28  # Qwen2.5-VL: 14-pixel patches merged 2x2
TEMPORAL_PATCH = 2  # Qwen2.5-VL groups frames in pairs
# Decoding may end a little before the duration the header states (audio longer than video,
# rounding); past this gap a missing frame means the file is truncated or corrupt.
END_TOLERANCE_S = 1.0
# Without a keyframe index, decode forward across gaps up to this long instead of seeking.
FORWARD_WITHOUT_INDEX_S = 5.0
MAX_BAD_PACKETS = 50
SubtitleChoice = str | Path | Sequence[Cue] | bool | None


@dataclass(frozen=True)
class VideoSettings:
    """How to sample a video: the options of `sample_video` that a recipe's `[video]` section sets.

    The defaults are the paper's evaluation protocol (2 fps, <=128 frames) and equal the
    recipe's defaults; the training recipes set their own rate and frame cap (recipes/sft.toml
    1 fps, recipes/grpo.toml <=32 frames). `subtitles` is "auto", a path, a list of Cue, or
    None; a recipe's True/False becomes "auto"/None per sample through `subtitles_for`.
    """

    fps: float = 2.0
    max_frames: int = 128
    min_pixels: int = 100_352
    max_pixels: int = 151_200
    timestamp_overlay: bool = True
    subtitles: SubtitleChoice = "auto"

    def kwargs(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that would turn a list of Cue into dicts.
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def frame_options(self) -> dict[str, Any]:
        """The options that decide the frames themselves (all but the subtitles)."""
        return {name: value for name, value in self.kwargs().items() if name != "subtitles"}

    def subtitles_for(self, srt: str | Path | None) -> SubtitleChoice:
        """Which subtitles to draw for one sample: none when these settings turn them off, else the
        sample's own .srt when it names one, else whatever these settings say ("auto": the .srt
        next to the video)."""
        if self.subtitles is None or self.subtitles is False:
            return None
        if srt:
            return srt
        return "auto" if self.subtitles is True else self.subtitles

    def sample(self, path: str | Path, **overrides: Any) -> SampledVideo:
        """`sample_video(path)` with these settings; `overrides` (start, end, ...) win."""
        return sample_video(path, **{**self.kwargs(), **overrides})

    def sample_release(self, path: str | Path, *, start: float | None = None,
                       end: float | None = None) -> SampledVideo:
        """`sample_video_release(path)` with these rates and sizes (it draws no overlays)."""
        return sample_video_release(path, fps=self.fps, max_frames=self.max_frames,
                                    min_pixels=self.min_pixels, max_pixels=self.max_pixels,
                                    start=start, end=end)


def load_sample_video(sample: Any, settings: VideoSettings, *, release: bool = False) -> SampledVideo:
    """The frames of one `vr2.samples.Sample` (its clip window and subtitles) under `settings`;
    `release` samples the way qwen-vl-utils does (the `paper` eval protocol, no overlays).

    Module-level in this light module on purpose: eval's decode workers unpickle it, and a worker
    that had to import the eval runner first would start ~0.5 s later (measured)."""
    if release:
        return settings.sample_release(sample.video, start=sample.start, end=sample.end)
    return settings.sample(sample.video, start=sample.start, end=sample.end,
                           subtitles=settings.subtitles_for(sample.subtitles))


def video_settings(video: Any) -> VideoSettings:
    """A recipe's `[video]` section (`vr2.config.VideoConfig`) as sampling settings.

    The one place this translation happens: SFT, GRPO, `vr2 eval` (both protocols), `vr2 explain`
    and `vr2 curate` all call it, so every stage that reads the same section samples the same
    frames. The section's `subtitles` switch stays a bool here; `subtitles_for` resolves it per
    sample.
    """
    return VideoSettings(fps=video.fps, max_frames=video.max_frames, min_pixels=video.min_pixels,
                         max_pixels=video.max_pixels, timestamp_overlay=video.timestamp_overlay,
                         subtitles=video.subtitles)


@dataclass
class SampledVideo:
    """Frames sampled from one video, ready for the model.

    `frames` is uint8 (T, H, W, 3) after resizing and overlays; `times[k]` is the presentation time
    (seconds from the start of the stream) of the source frame kept as frame k, and
    `frame_indices[k]` its index in the source (time x source fps). `sample_fps` is the rate the
    frames were taken at (1 / spacing), which may be below the requested fps when frames were
    spread over a long video. `decoded_frames` counts every frame the decoder produced.
    """

    path: str
    frames: np.ndarray
    times: list[float]
    frame_indices: list[int]
    source_fps: float
    duration: float
    sample_fps: float
    decoded_frames: int = 0
    subtitle_file: str | None = None

    def metadata(self) -> dict[str, Any]:
        """transformers `VideoMetadata` fields for these frames.

        transformers derives the sampling rate as len(frames_indices) / total_num_frames * fps, and
        Qwen2.5-VL's temporal position step (`second_per_grid_ts`) is 2 / that rate. The release
        (qwen-vl-utils) hands over 2 / `sample_fps` itself, so the metadata describes the frames
        as the model sees them: T frames, one every 1 / `sample_fps` seconds. Then the rate is
        T / T x sample_fps = sample_fps bit for bit (a frame count rounded from the source's
        drifted: 33.3 s at 24 fps gave 1.009115 s per step instead of the release's 1.008838),
        and `VideoMetadata.timestamps` are the frames' times from the first one at that rate.
        """
        count = len(self.frame_indices)
        return {
            "total_num_frames": count,
            "fps": self.sample_fps,
            "width": int(self.frames.shape[2]),
            "height": int(self.frames.shape[1]),
            "duration": self.duration,
            "video_backend": "pyav",
            "frames_indices": list(range(count)),
        }

    def vllm_input(self) -> tuple[np.ndarray, dict[str, Any]]:
        """`(frames, metadata)` for vLLM's `multi_modal_data["video"]` (the vLLM eval engine and
        the OpenRLHF backend). Same numbers as `metadata()`, so vLLM computes the same grid and
        time step as the transformers processor; `do_sample_frames=False` because vr2 sampled."""
        meta = self.metadata()
        keys = ("fps", "duration", "total_num_frames", "frames_indices")
        out = {key: meta[key] for key in keys}
        out["frames_indices"] = list(out["frames_indices"])
        out["do_sample_frames"] = False
        return self.frames, out

    def processor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for a transformers Qwen2.5-VL processor call (with `text=`).

        The frames are already sized to multiples of 28 inside the pixel budget, so a processor
        whose budget contains it leaves them as they are. An odd frame count is never produced
        (see `sample_video`) except for a single frame, which the processor pairs with a copy.
        """
        return {"videos": [self.frames], "video_metadata": [self.metadata()], "do_sample_frames": False}


# ---------------------------------------------------------------------------------------------
# Sizes and sampling times


def fit_pixels(
    height: int, width: int, *, min_pixels: int, max_pixels: int, factor: int = PATCH_FACTOR
) -> tuple[int, int]:
    """Output (height, width): multiples of `factor`, area within [min_pixels, max_pixels], aspect kept.

    The target area is the input area clamped to the budget. Among sizes made of whole
    `factor` cells that fit the budget, the one minimising |log aspect error| + |log area / target|
    wins (equal weight: a 1% aspect distortion costs as much as 1% of the budget). If no size fits
    both bounds (extreme aspect ratios in a narrow budget), the best one under `max_pixels` is used.
    """
    if height <= 0 or width <= 0:
        raise Vr2Error(f"frame size {width}x{height}: not a valid video size")
    cell = factor * factor
    area = height * width
    target = min(max(area, min_pixels), max_pixels)
    scale = math.sqrt(target / area)
    rows_ideal = height * scale / factor
    aspect = math.log(width / height)
    best: tuple[float, int, int] | None = None
    fallback: tuple[float, int, int] | None = None
    # Rows near the ideal; the cap keeps at least one candidate for very tall frames.
    most_rows = max(1, max_pixels // cell)
    low = max(1, min(math.floor(rows_ideal) - 2, most_rows))
    for rows in range(low, min(math.ceil(rows_ideal) + 3, most_rows + 1)):
        cols_ideal = max(1, round(rows * width / height))
        cols_min = max(1, math.ceil(min_pixels / (rows * cell)))
        cols_max = math.floor(max_pixels / (rows * cell))
        if cols_max < 1:
            continue
        fits = cols_min <= cols_max
        cols = min(max(cols_ideal, cols_min), cols_max) if fits else min(cols_ideal, cols_max)
        score = abs(math.log(cols / rows) - aspect) + abs(math.log(rows * cols * cell / target))
        candidate = (score, rows, cols)
        if fits and (best is None or candidate < best):
            best = candidate
        if fallback is None or candidate < fallback:
            fallback = candidate
    chosen = best or fallback
    if chosen is None:
        raise Vr2Error(f"max_pixels={max_pixels}: smaller than one {factor}x{factor} cell")
    return chosen[1] * factor, chosen[2] * factor


def sample_times(
    duration: float,
    *,
    fps: float,
    max_frames: int,
    start: float | None = None,
    end: float | None = None,
    source_fps: float | None = None,
) -> tuple[list[float], float]:
    """The times to sample and their spacing (seconds); the rule `sample_video` documents."""
    s = 0.0 if start is None else float(start)
    e = duration if end is None else min(float(end), duration)
    if s < 0:
        raise Vr2Error(f"start={start}: must be >= 0")
    if s >= duration:
        raise Vr2Error(f"start={start}: at or past the end of the video ({duration:.3f} s)")
    if e <= s:
        raise Vr2Error(f"end={end}: must be after start ({s})")
    rate = min(fps, source_fps) if source_fps else fps
    span = e - s
    count = max(1, math.floor(span * rate + 1e-6))
    if count > max_frames:
        count = max_frames - (max_frames % TEMPORAL_PATCH if max_frames >= TEMPORAL_PATCH else 0)
        step = span / count
    else:
        if count >= TEMPORAL_PATCH:
            count -= count % TEMPORAL_PATCH
        step = 1.0 / rate
    return [s + k * step for k in range(count)], step


# ---------------------------------------------------------------------------------------------
# Opening and probing


def _check_file(path: Path) -> None:
    if not path.exists():
        raise Vr2Error(f"{path}: video file not found")
    if path.is_dir():
        raise Vr2Error(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise Vr2Error(f"{path}: empty file, not a video")


def _open(path: Path):
    """Open a video container; every failure becomes a Vr2Error naming the file."""
    import av

    _check_file(path)
    try:
        container = av.open(str(path), "r", timeout=30.0)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise Vr2Error(f"{path}: not a readable video ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise Vr2Error(f"{path}: has no video stream")
    return container


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or first_line(error)


@dataclass
class _Info:
    duration: float
    fps: float
    frames: int
    width: int
    height: int
    codec: str


def _info(path: Path, container) -> _Info:
    stream = container.streams.video[0]
    time_base = float(stream.time_base) if stream.time_base else 0.0
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    duration = 0.0
    if stream.duration and time_base:
        duration = stream.duration * time_base
    elif container.duration:
        duration = container.duration / 1_000_000
    frames = int(stream.frames or 0)
    if not fps and frames and duration:
        fps = frames / duration
    if not duration and frames and fps:
        duration = frames / fps
    if not fps or fps > 1000 or not duration or duration <= 0:
        raise Vr2Error(f"{path}: cannot tell the video's frame rate or duration (not a normal video file?)")
    if not frames:
        frames = max(1, round(duration * fps))
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise Vr2Error(f"{path}: video stream has no frame size (corrupt header?)")
    return _Info(duration, fps, frames, width, height, stream.codec_context.name)


def probe_video(path: str | Path) -> dict[str, Any]:
    """Duration (s), fps, frame count, width, height and codec of a video, from its header."""
    import av

    path = Path(path)
    container = _open(path)
    try:
        info = _info(path, container)
    except av.error.FFmpegError as error:
        raise Vr2Error(f"{path}: cannot read video header ({_reason(error)})") from None
    finally:
        container.close()
    return {
        "duration": info.duration,
        "fps": info.fps,
        "frames": info.frames,
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
    }


# ---------------------------------------------------------------------------------------------
# Decoding only what is kept


class _Decoder:
    """Returns the frame nearest to each of a rising series of times, decoding as little as it can.

    Decoding must start at a keyframe. With the container's keyframe index, a wanted time is
    reached by seeking when a keyframe lies between the current decode position and that time
    (skipping the frames in between), and by decoding forward otherwise (the wanted frame is in
    the GOP being decoded). Without an index, it seeks across gaps longer than
    FORWARD_WITHOUT_INDEX_S. A seek that lands past the wanted frame is retried further back.
    """

    def __init__(self, path: Path, container, info: _Info):
        self.path = path
        self.container = container
        self.stream = container.streams.video[0]
        # Frame threads keep both cores busy; slices alone do nothing for most h264 files.
        self.stream.thread_type = "AUTO"
        self.time_base = self.stream.time_base
        self.offset = Fraction(self.stream.start_time or 0) * self.time_base
        self.info = info
        self.half_period = 0.5 / info.fps
        self.key_times: list[float] = []
        # Index times can be decode times, a few frames before presentation (B-frames); the
        # difference is learned from the first seek.
        self.delay: float | None = None
        self.frames: Iterator[Any] | None = None
        self.position: float | None = None  # time of the last decoded frame
        self.last = None
        self.decoded = 0
        self.bad_packets = 0

    def _load_keys(self) -> None:
        # Matroska/WebM read their index (cues) on the first seek, MP4 when opened.
        entries = getattr(self.stream, "index_entries", None) or []  # PyAV >= 17
        keys = sorted({entry.timestamp for entry in entries if entry.is_keyframe})
        self.key_times = [float(ts * self.time_base - self.offset) for ts in keys]

    def _time(self, frame) -> float:
        if frame.pts is None:
            previous = self.position if self.position is not None else -1.0 / self.info.fps
            return previous + 1.0 / self.info.fps
        return float(frame.pts * self.time_base - self.offset)

    def _key_before(self, t: float) -> float | None:
        """Presentation time of the last keyframe at or before t, by the index."""
        delay = self.delay or 0.0
        position = bisect_right(self.key_times, t - delay + 1e-9)
        return self.key_times[position - 1] + delay if position else None

    def _decoded_frames(self) -> Iterator[Any]:
        import av

        for packet in self.container.demux(self.stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                # One damaged packet should not lose the whole video; many mean a broken file.
                self.bad_packets += 1
                if self.bad_packets > MAX_BAD_PACKETS:
                    raise Vr2Error(f"{self.path}: too many undecodable packets (corrupt file)") from None
                continue
            yield from frames

    def _next(self):
        frame = next(self.frames, None) if self.frames is not None else None
        if frame is not None:
            self.decoded += 1
        return frame

    def _needs_seek(self, t: float) -> bool:
        if self.frames is None or self.position is None:
            return True
        if self.key_times:
            key = self._key_before(t)
            return key is not None and key > self.position + 1e-9
        return t - self.position > FORWARD_WITHOUT_INDEX_S

    def _start(self, t: float) -> None:
        """Seek to the keyframe before t; go further back while the seek lands past t."""
        back = 0.0
        while True:
            target = max(0.0, t - back)
            # At the start, seek to timestamp 0: seeking to the stream's own start time can land
            # on a later keyframe (MPEG-TS).
            if target > 0:
                pts = int((Fraction(target) + self.offset) / self.time_base)
            else:
                pts = min(0, self.stream.start_time or 0)
            self.container.seek(pts, stream=self.stream, backward=True)
            if not self.key_times:
                self._load_keys()
            self.frames = self._decoded_frames()
            first = self._next()
            if first is None:
                return
            time = self._time(first)
            if self.delay is None and self.key_times:
                landed = bisect_right(self.key_times, time + 1e-9)
                self.delay = max(0.0, time - self.key_times[landed - 1]) if landed else 0.0
            self.last, self.position = first, time
            # Under a constant frame rate, a first frame before t + half a period is the nearest
            # one; a later one means the wanted frame lies before the keyframe we landed on.
            if time < t + self.half_period or target <= 0.0:
                return
            back = max(2 * back, 1.0 / self.info.fps)

    def frame_at(self, t: float):
        """The decoded frame nearest to t: the first one at or after t - half a frame period."""
        if self.last is not None and self.position >= t - self.half_period:
            return self.last, self.position
        if self._needs_seek(t):
            self._start(t)
            if self.position is not None and self.position >= t - self.half_period:
                return self.last, self.position
        while True:
            frame = self._next()
            if frame is None:
                return self._at_end(t)
            time = self._time(frame)
            self.last, self.position = frame, time
            if time >= t - self.half_period:
                return frame, time

    def _at_end(self, t: float):
        if self.last is not None and t - self.position <= END_TOLERANCE_S:
            return self.last, self.position
        reached = f"{self.position:.2f} s" if self.position is not None else "the start"
        raise Vr2Error(
            f"{self.path}: no frame near {t:.2f} s; decoding stopped at {reached} of "
            f"{self.info.duration:.2f} s (truncated or corrupt file?)"
        )


# ---------------------------------------------------------------------------------------------
# Overlays


@lru_cache(maxsize=32)
def overlay_font(size: int):
    """The font of every text vr2 draws on frames, at `size` pixels."""
    # Pillow's bundled font (Aileron, via FreeType in every Pillow wheel): works offline anywhere.
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def format_hms(seconds: float) -> str:
    """`HH:MM:SS` of a time, rounded down to the whole second (12.5 -> 00:00:12)."""
    whole = int(math.floor(seconds + 1e-6)) if seconds > 0 else 0
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _shade(frame: np.ndarray, box: tuple[int, int, int, int], alpha: float) -> None:
    """Darken a rectangle in place: a black box at opacity `alpha` over the picture."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    if x1 > x0 and y1 > y0:
        keep = int(round((1.0 - alpha) * 256))
        region = frame[y0:y1, x0:x1].astype(np.uint16)
        frame[y0:y1, x0:x1] = ((region * keep) >> 8).astype(np.uint8)


def timestamp_font_size(height: int, width: int) -> int:
    return max(12, round(min(height, width) * 0.075))


def draw_timestamp(frame: np.ndarray, seconds: float) -> np.ndarray:
    """A copy of `frame` with `HH:MM:SS` in white on a dark box at the top-left corner.

    The font is 7.5% of the shorter side (at least 12 px): about 25 px on a 336x448 frame, i.e.
    nearly a full 28-pixel Qwen cell per character height.
    """
    from PIL import Image, ImageDraw

    out = np.array(frame, dtype=np.uint8, copy=True)
    height, width = out.shape[:2]
    size = timestamp_font_size(height, width)
    font = overlay_font(size)
    text = format_hms(seconds)
    pad, margin = max(2, size // 4), max(2, size // 3)
    left, top, right, bottom = font.getbbox(text)
    box = (margin, margin, margin + (right - left) + 2 * pad, margin + (bottom - top) + 2 * pad)
    _shade(out, box, 0.6)
    image = Image.fromarray(out)
    origin = (margin + pad - left, margin + pad - top)
    ImageDraw.Draw(image).text(origin, text, font=font, fill=(255, 255, 255))
    return np.asarray(image).copy()


def _wrap(text: str, font, max_width: float, max_lines: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            trial = f"{current} {word}" if current else word
            if font.getlength(trial) <= max_width:
                current = trial
                continue
            if current:
                lines.append(current)
            # A word wider than the frame is cut into pieces that fit.
            while font.getlength(word) > max_width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and font.getlength(word[:cut]) > max_width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > max_width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def draw_subtitle(frame: np.ndarray, text: str, *, max_lines: int = 3) -> np.ndarray:
    """A copy of `frame` with `text` wrapped, centred at the bottom, on a semi-transparent box.

    Font: 6% of the shorter side (at least 11 px); at most `max_lines` lines (the last one ends
    with an ellipsis when text was cut), so subtitles never cover the middle of the picture.
    """
    from PIL import Image, ImageDraw

    out = np.array(frame, dtype=np.uint8, copy=True)
    height, width = out.shape[:2]
    size = max(11, round(min(height, width) * 0.06))
    font = overlay_font(size)
    pad = max(2, size // 4)
    lines = _wrap(text, font, width * 0.92 - 2 * pad, max_lines)
    if not lines:
        return out
    line_height = round(size * 1.2)
    text_width = max(font.getlength(line) for line in lines)
    box_width, box_height = int(math.ceil(text_width)) + 2 * pad, line_height * len(lines) + 2 * pad
    x0 = (width - box_width) // 2
    y1 = height - max(2, size // 2)
    y0 = y1 - box_height
    _shade(out, (x0, y0, x0 + box_width, y1), 0.55)
    image = Image.fromarray(out)
    draw = ImageDraw.Draw(image)
    # Lines are placed from glyph boxes rather than with `anchor`, which Pillow's bitmap fallback
    # font (a Pillow built without FreeType) does not support; one reference box for the height
    # keeps all lines on the same baseline grid.
    _, top, _, bottom = font.getbbox("Hg")
    for row, line in enumerate(lines):
        centre_y = y0 + pad + row * line_height + line_height // 2
        left, _, right, _ = font.getbbox(line)
        origin = ((width - (right - left)) // 2 - left, centre_y - (bottom - top) // 2 - top)
        draw.text(origin, line, font=font, fill=(255, 255, 255))
    return np.asarray(image).copy()


# ---------------------------------------------------------------------------------------------
# Sampling


def _subtitle_cues(path: Path, subtitles: SubtitleChoice) -> tuple[list[Cue], str | None]:
    if subtitles is None or subtitles is False:
        return [], None
    if subtitles is True or (isinstance(subtitles, str) and subtitles == "auto"):
        srt = path.with_suffix(".srt")
        return (load_srt(srt), str(srt)) if srt.is_file() else ([], None)
    if isinstance(subtitles, (str, Path)):
        return load_srt(subtitles), str(subtitles)
    cues = sorted(subtitles, key=lambda cue: (cue.start, cue.end))
    if not all(isinstance(cue, Cue) for cue in cues):
        raise Vr2Error("subtitles: expected 'auto', a path, a list of Cue, or None")
    return cues, None


def _check_options(fps: float, max_frames: int, min_pixels: int, max_pixels: int) -> None:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise Vr2Error(f"fps={fps}: must be a positive number")
    if not isinstance(max_frames, int) or max_frames < 1:
        raise Vr2Error(f"max_frames={max_frames}: must be a positive integer")
    if max_pixels < PATCH_FACTOR * PATCH_FACTOR:
        raise Vr2Error(f"max_pixels={max_pixels}: must be at least {PATCH_FACTOR * PATCH_FACTOR}")
    if min_pixels > max_pixels:
        raise Vr2Error(f"min_pixels={min_pixels}: larger than max_pixels={max_pixels}")


def sample_video(
    path: str | Path,
    *,
    fps: float = 2.0,
    max_frames: int = 128,
    min_pixels: int = 100_352,
    max_pixels: int = 151_200,
    start: float | None = None,
    end: float | None = None,
    timestamp_overlay: bool = True,
    subtitles: SubtitleChoice = "auto",
) -> SampledVideo:
    """Sample frames from a video for Qwen2.5-VL, with time (and subtitle) overlays.

    Which frames. On the window [s, e] (s = start or 0, e = end or the duration, clipped to it),
    with rate r = min(fps, source fps):
      - n = floor((e - s) * r) (at least 1); if n <= max_frames, frames are taken every
        1 / r seconds: t_k = s + k / r;
      - otherwise n = max_frames and the n times are spread uniformly: t_k = s + k (e - s) / n;
      - n is then rounded down to an even number (when n >= 2), because Qwen2.5-VL encodes frames
        in pairs and would otherwise pair the last frame with a copy of itself; the dropped frame
        is the last one, so the spacing (and with it the time axis) stays exact.
    Each t_k selects the source frame nearest in time (the first whose presentation time is at or
    after t_k minus half a frame period), and `times` holds that frame's own presentation time.

    Size. Frames are resized (aspect kept) to multiples of 28 with an area within
    [min_pixels, max_pixels] (`fit_pixels`). Overlays are drawn after resizing: the time as
    `HH:MM:SS` top-left (`timestamp_overlay`), and the subtitle active at the frame's time
    bottom-centre. `subtitles`: "auto" uses `<video stem>.srt` next to the video if present; a
    path (must exist); a list of `Cue`; None or False for none.

    Any problem with the file (missing, empty, not a video, truncated, corrupt) raises Vr2Error
    naming it.
    """
    import av

    path = Path(path)
    _check_options(fps, max_frames, min_pixels, max_pixels)
    cues, subtitle_file = _subtitle_cues(path, subtitles)
    container = _open(path)
    try:
        info = _info(path, container)
        targets, step = sample_times(
            info.duration, fps=fps, max_frames=max_frames, start=start, end=end, source_fps=info.fps
        )
        out_height, out_width = fit_pixels(
            info.height, info.width, min_pixels=min_pixels, max_pixels=max_pixels
        )
        decoder = _Decoder(path, container, info)
        frames = np.empty((len(targets), out_height, out_width, 3), dtype=np.uint8)
        times: list[float] = []
        indices: list[int] = []
        for k, target in enumerate(targets):
            frame, time = decoder.frame_at(target)
            frames[k] = frame.to_ndarray(
                width=out_width, height=out_height, format="rgb24", interpolation="BICUBIC"
            )
            times.append(time)
            indices.append(max(0, round(time * info.fps)))
    except av.error.FFmpegError as error:
        raise Vr2Error(f"{path}: cannot decode video ({_reason(error)})") from None
    finally:
        container.close()
    for k, time in enumerate(times):
        if timestamp_overlay:
            frames[k] = draw_timestamp(frames[k], time)
        cue = cue_at(cues, time) if cues else None
        if cue is not None:
            frames[k] = draw_subtitle(frames[k], cue.text)
    return SampledVideo(
        path=str(path),
        frames=frames,
        times=times,
        frame_indices=indices,
        source_fps=info.fps,
        duration=info.duration,
        sample_fps=1.0 / step,
        decoded_frames=decoder.decoded,
        subtitle_file=subtitle_file,
    )


# ---------------------------------------------------------------------------------------------
# The Video-R2 release's evaluation sampling (the `paper` eval protocol)

RELEASE_MIN_FRAMES = 4  # qwen-vl-utils' lower bound on the frame count at a given fps


def qwen_resize(height: int, width: int, *, min_pixels: int, max_pixels: int,
                factor: int = PATCH_FACTOR) -> tuple[int, int]:
    """qwen-vl-utils' frame size rule (used by the release's evaluation): each side rounded to
    a multiple of `factor`; if the area is then over `max_pixels` (under `min_pixels`) both
    sides are scaled by the square root of the ratio and rounded down (up) to the factor."""
    if height <= 0 or width <= 0:
        raise Vr2Error(f"frame size {width}x{height}: not a valid video size")
    rows = max(factor, round(height / factor) * factor)
    cols = max(factor, round(width / factor) * factor)
    if rows * cols > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        rows = max(factor, math.floor(height / beta / factor) * factor)
        cols = max(factor, math.floor(width / beta / factor) * factor)
    elif rows * cols < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        rows = math.ceil(height * beta / factor) * factor
        cols = math.ceil(width * beta / factor) * factor
    return rows, cols


def release_frame_count(total_frames: int, video_fps: float, *, fps: float = 2.0,
                        max_frames: int = 128) -> int:
    """How many frames qwen-vl-utils takes from `total_frames` at `fps`: duration x fps,
    clamped to [4, min(max_frames, total_frames)], then rounded down to an even number."""
    low = math.ceil(RELEASE_MIN_FRAMES / TEMPORAL_PATCH) * TEMPORAL_PATCH
    high = math.floor(min(max_frames, total_frames) / TEMPORAL_PATCH) * TEMPORAL_PATCH
    wanted = total_frames / video_fps * fps
    count = math.floor(min(max(wanted, low), high, total_frames) / TEMPORAL_PATCH) * TEMPORAL_PATCH
    if not TEMPORAL_PATCH <= count <= total_frames:
        raise Vr2Error(f"video of {total_frames} frame(s): too short for the release's sampling "
                       f"(needs at least {TEMPORAL_PATCH} frames)")
    return count


def release_frame_indices(total_frames: int, video_fps: float, *, fps: float = 2.0,
                          max_frames: int = 128, first: int = 0) -> tuple[list[int], int]:
    """The source frames the release's evaluation feeds the model, and how many qwen-vl-utils
    sampled before the re-index.

    Two steps, as in the release's lmms-eval model wrapper: qwen-vl-utils takes n frames
    (`release_frame_count`) at the rounded positions of linspace(first, last, n); then the
    wrapper re-indexes those n to exactly `max_frames` with linspace(0, n - 1, max_frames)
    truncated to integers, appending the last one if it is missing. A clip shorter than
    max_frames / fps therefore repeats frames.
    """
    import torch  # qwen-vl-utils rounds a float32 torch.linspace; float64 differs on long videos

    count = release_frame_count(total_frames, video_fps, fps=fps, max_frames=max_frames)
    last = first + total_frames - 1
    sampled = torch.linspace(first, last, count).round().long().tolist()
    picks = np.linspace(0, count - 1, max_frames).astype(int)
    if count - 1 not in picks:
        picks = np.append(picks, count - 1)
    return [int(sampled[k]) for k in picks], count


def sample_video_release(
    path: str | Path,
    *,
    fps: float = 2.0,
    max_frames: int = 128,
    min_pixels: int = 100_352,
    max_pixels: int = 151_200,
    start: float | None = None,
    end: float | None = None,
) -> SampledVideo:
    """Frames as the Video-R2 release's evaluation gave them to the model (the `paper` eval
    protocol): `release_frame_indices` on the source frames (of the [start, end] window when
    given), each frame resized to `qwen_resize`'s size, and no overlays (the release only
    draws times and subtitles when training).

    `sample_fps` is the rate qwen-vl-utils reported for its n frames (n / frames x source
    fps), which the release handed to the processor unchanged after re-indexing; so the
    model's time axis is the release's. Training and `vr2 explain` use `sample_video`.
    """
    import av

    path = Path(path)
    _check_options(fps, max_frames, min_pixels, max_pixels)
    container = _open(path)
    try:
        info = _info(path, container)
        first = 0 if start is None else max(0, math.ceil(start * info.fps))
        last = info.frames - 1 if end is None else min(info.frames - 1, math.floor(end * info.fps))
        if last < first:
            raise Vr2Error(f"{path}: window [{start}, {end}] holds no frame")
        indices, count = release_frame_indices(last - first + 1, info.fps, fps=fps,
                                               max_frames=max_frames, first=first)
        out_height, out_width = qwen_resize(info.height, info.width, min_pixels=min_pixels,
                                            max_pixels=max_pixels)
        decoder = _Decoder(path, container, info)
        frames = np.empty((len(indices), out_height, out_width, 3), dtype=np.uint8)
        times: list[float] = []
        for k, index in enumerate(indices):
            frame, time = decoder.frame_at(index / info.fps)
            frames[k] = frame.to_ndarray(width=out_width, height=out_height, format="rgb24",
                                         interpolation="BICUBIC")
            times.append(time)
    except av.error.FFmpegError as error:
        raise Vr2Error(f"{path}: cannot decode video ({_reason(error)})") from None
    finally:
        container.close()
    return SampledVideo(path=str(path), frames=frames, times=times, frame_indices=indices,
                        source_fps=info.fps, duration=info.duration,
                        sample_fps=count / (last - first + 1) * info.fps,
                        decoded_frames=decoder.decoded)
