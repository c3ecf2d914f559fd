"""Synthetic test videos whose every frame says which frame it is.

Tests across vr2 (decoding, overlays, the tiny model, training, evaluation) need real video files
without downloading anything. `write_test_video` encodes one with PyAV in a fraction of a second.
Each frame carries its own index in two ways that survive compression and resizing:

- a 16-cell barcode across the middle band of the frame (cell k white when bit k of the frame
  index is set), which `read_frame_number` decodes back from pixels;
- the index drawn as text, for a human looking at the frames.

With the "clock" pattern the background colour also changes every second (`second_colour`), so a
frame's second can be checked from any pixel outside the drawings. The frames are deterministic
for given arguments (`make_frame`). The encoded bytes nearly always are too, but not quite: with
another thread of the same process busy, about 1 file in 15-30 came out a few bytes different
(x264 through PyAV, one encoder thread). Nothing relies on the bytes; tests read the frames back.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from vr2.errors import Vr2Error
from vr2.video.sampling import overlay_font

BARCODE_BITS = 16
# The barcode lives in the middle band: clear of the timestamp overlay (top-left) and of
# subtitles (bottom), so sampled frames with overlays can still be identified.
BARCODE_TOP = 0.42
BARCODE_BOTTOM = 0.58
PATTERNS = ("clock", "motion")

# A fixed palette of distinct, mid-brightness colours: one per second, cycling.
_PALETTE = np.array(
    [
        (200, 60, 60),
        (60, 160, 60),
        (60, 90, 200),
        (200, 170, 40),
        (150, 60, 170),
        (40, 170, 170),
        (220, 120, 40),
        (120, 120, 120),
        (110, 180, 90),
        (180, 90, 140),
    ],
    dtype=np.uint8,
)


def second_colour(second: int) -> tuple[int, int, int]:
    """Background colour of the "clock" pattern during the given whole second."""
    r, g, b = _PALETTE[second % len(_PALETTE)]
    return int(r), int(g), int(b)


def _barcode_cells(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of each barcode cell, bit 0 on the left."""
    y0, y1 = int(height * BARCODE_TOP), int(height * BARCODE_BOTTOM)
    edges = np.linspace(0, width, BARCODE_BITS + 1).round().astype(int)
    return [(int(edges[k]), y0, int(edges[k + 1]), y1) for k in range(BARCODE_BITS)]


def _draw_barcode(frame: np.ndarray, number: int) -> None:
    height, width = frame.shape[:2]
    for bit, (x0, y0, x1, y1) in enumerate(_barcode_cells(width, height)):
        frame[y0:y1, x0:x1] = 255 if (number >> bit) & 1 else 0


def read_frame_number(frame: np.ndarray) -> int:
    """Decode the barcode of a frame made by `write_test_video` (any size, same aspect ratio).

    Reads the centre of each cell so that compression ringing at cell edges does not matter.
    """
    height, width = frame.shape[:2]
    number = 0
    for bit, (x0, y0, x1, y1) in enumerate(_barcode_cells(width, height)):
        dx, dy = max(1, (x1 - x0) // 4), max(1, (y1 - y0) // 4)
        centre = frame[y0 + dy : y1 - dy, x0 + dx : x1 - dx]
        if float(centre.mean()) > 127.5:
            number |= 1 << bit
    return number


@lru_cache(maxsize=4)
def _texture(width: int, height: int) -> np.ndarray:
    """A fixed random texture twice the frame width, scrolled by the "motion" pattern."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(height // 8 + 1, width // 4 + 1, 3), dtype=np.uint8)
    # Blocky texture: realistic bitrate for h264 without the cost of pure noise.
    big = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:height, : 2 * width]
    return np.ascontiguousarray(big)


def _background(pattern: str, index: int, fps: float, width: int, height: int) -> np.ndarray:
    if pattern == "clock":
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:] = second_colour(int(index // fps))
        return frame
    texture = _texture(width, height)
    shift = (index * 4) % width
    return texture[:, shift : shift + width].copy()


def _draw_number(frame: np.ndarray, number: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    height, width = frame.shape[:2]
    size = max(10, height // 8)
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    font = overlay_font(size)
    # Upper-middle band: between the timestamp overlay (top-left) and the barcode.
    text = str(number)
    left, top, right, bottom = font.getbbox(text)
    origin = ((width - (right - left)) // 2 - left, int(height * 0.27) - (bottom - top) // 2 - top)
    draw.text(origin, text, font=font, fill=(255, 255, 255))
    return np.asarray(image)


def make_frame(
    index: int, *, fps: float = 10, size: tuple[int, int] = (320, 240), pattern: str = "clock"
) -> np.ndarray:
    """The RGB frame `write_test_video` encodes at position `index` (before compression)."""
    width, height = size
    frame = _background(pattern, index, fps, width, height)
    frame = _draw_number(frame, index)
    frame = np.array(frame)  # writable copy
    _draw_barcode(frame, index)
    return frame


def write_test_video(
    path: str | Path,
    *,
    seconds: float = 20.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    codec: str = "h264",
    gop: int | None = None,
    pattern: str = "clock",
) -> Path:
    """Encode a test video of deterministic frames; frame i is shown at exactly i / fps seconds.

    `size` is (width, height), both even. `gop` is the keyframe interval in frames (None: the
    encoder's default, with scene-cut keyframes); giving it also turns scene-cut keyframes off so
    that GOPs are exactly `gop` frames. `pattern`: "clock" (a colour per second) or "motion" (a
    scrolling texture, for realistic decoding benchmarks). The container follows the suffix of
    `path` (.mp4, .mkv, .webm, ...).
    """
    import av

    if pattern not in PATTERNS:
        raise Vr2Error(f"pattern={pattern!r}: expected one of {', '.join(PATTERNS)}")
    width, height = size
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise Vr2Error(f"size={size}: width and height must be even and at least 16")
    if fps <= 0 or seconds <= 0:
        raise Vr2Error(f"seconds={seconds}, fps={fps}: both must be positive")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = max(1, round(seconds * fps))
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        # One encoder thread: with more, x264's output depends on how its threads are scheduled.
        options = {"threads": "1"}
        if gop is not None:
            stream.codec_context.gop_size = gop
            options["sc_threshold"] = "0"
            if stream.codec_context.name == "libx264":
                options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        stream.codec_context.options = options
        for index in range(count):
            image = make_frame(index, fps=fps, size=size, pattern=pattern)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
