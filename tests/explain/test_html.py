"""vr2.explain.html: a self-contained, escaped report with the right frames, checked in a real browser."""

from __future__ import annotations

import base64
import html
import io
import re

import numpy as np
import pytest
from html_helpers import CHROMIUM, chromium, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.config import load_recipe
from vr2.devtools.synthetic import read_frame_number, second_colour
from vr2.errors import Vr2Error
from vr2.explain import explanation as ex
from vr2.explain import html as hr
from vr2.model.vas import VasResult

OPTIONS = ["A. red <b>", "B. green & blue"]
COMPLETION = ("<think>At 00:00 the screen is red. Around 00:01 the background turns green, and from 00:02 "
              "to 00:03 the number changes on the screen. At 05:00 a dog <script>alert(1)</script> appears. "
              "So the answer is B.</think><answer>B</answer>")
REF = {"00:01": "The background turns green.", "00:03": "The number changes on the screen."}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from vr2.devtools.synthetic import write_test_video

    path = write_test_video(tmp_path_factory.mktemp("v") / "clock.mp4", seconds=4, fps=10, size=(112, 84))
    return ex.sample(path, load_recipe(None, ["video.min_pixels=784", "video.max_pixels=9408"]))


@pytest.fixture(scope="module")
def report(video):
    """An explanation of a hand-written completion, with a reference and a made-up attention profile."""
    from vr2.config import Recipe
    from vr2.scoring.claims import reference_claims
    from vr2.scoring.rewards import build_tar_reward

    recipe = Recipe()
    reference = ex.Reference("ref <1>.json", REF, reference_claims(REF), "B", None, [])
    per_frame = list(np.linspace(1, 8, len(video.times)) / np.linspace(1, 8, len(video.times)).sum())
    vas = VasResult(42.0, per_frame, list(video.times), 50, 48)
    e = ex.analyze(COMPLETION, question='Which colour "follows" red?', options=OPTIONS, frame_times=video.times,
                   duration=video.duration, reference=reference, tar=build_tar_reward(recipe.tar, recipe.judge),
                   vas=vas)
    e.video_path, e.frames, e.model = video.path, video.frames, "tiny & <model>"
    return e




def _decode(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/jpeg;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


# --- content -----------------------------------------------------------------------------------


def test_everything_is_escaped(report):
    page = hr.render(report)
    parsed = parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "b" in tags  # our own <b>, never the model's or the options'
    text = "".join(parsed.text)
    for raw in ("<script>alert(1)</script>", "red <b>", "green & blue", '"follows"', "tiny & <model>", "ref <1>.json"):
        assert raw in text  # shown literally ...
    assert "<script>" not in page and "red <b>" not in page  # ... because it was escaped


def test_self_contained(report):
    page = hr.render(report)
    parsed = parse(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:image/", "#")), (tag, name, value)
    assert not re.search(r"<link|<script|@import|url\(", page)
    # the only URL is the SVG namespace, which browsers never fetch
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}


def test_claim_thumbnails_are_the_frames_at_the_claimed_times(report):
    parsed = parse(hr.render(report))
    figures = [(attrs["alt"], attrs["src"]) for tag, attrs in parsed.tags if tag == "img"]
    by_caption = {}
    for alt, src in figures:
        by_caption.setdefault(alt, src)
    # source frame i is shown at i / 10 s; the sampled frame at 1.0 s is source frame 10
    for k, t in enumerate(report.frame_times):
        image = _decode(by_caption[f"frame {k} at {hr.format_clock(t)}"])  # the all-frames grid
        assert read_frame_number(image) == round(t * 10)
        corner = image[-6:, -6:].reshape(-1, 3).mean(axis=0)  # background colour of that second
        assert np.abs(corner - second_colour(int(t))).max() < 30
    claim_imgs = [alt for alt, _ in figures if alt.startswith("frame ")]
    # claims 1, 2: one frame; claim 3 (a range): first and last; claim 4 (beyond the video): the last
    assert claim_imgs[:5] == ["frame 0 · 0.0 s", "frame 2 · 1.0 s", "frame 4 · 2.0 s", "frame 6 · 3.0 s",
                              "frame 7 · 3.5 s"]


def test_scores_reasoning_and_plot(report):
    page = hr.render(report)
    text = "".join(parse(page).text)
    for needle in ("consistent", "42.0", "TAR (gated)", "precision 0.50", "recall 1.00", "F1 0.67",
                   "2 of 4 claims matched 2 reference moments", "Accuracy", "beyond the video"):
        assert needle in text, needle
    assert page.count('<mark class="t matched"') == 2 and page.count('<mark class="t unmatched"') == 2
    assert 'href="#claim-2"' in page and 'id="claim-2"' in page
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert svg.count('fill="#3b6fd6"') == len(report.frame_times)  # one bar per frame
    assert svg.count('stroke-dasharray="5,3"') == 3  # point claims (the range is a band)
    assert ">4›<" in svg  # the claim past the end sits at the edge, marked
    assert svg.count('fill="#1a7f37"') == 2  # reference marks


OUR_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "div", "b", "span", "ul", "li",
            "svg", "rect", "line", "text", "path", "table", "thead", "tbody", "tr", "th", "td", "a",
            "mark", "br", "figure", "img", "figcaption"}


@settings(max_examples=60, deadline=None)
@given(question=st.text(max_size=60), think=st.text(max_size=120).filter(lambda t: "</think>" not in t.lower()),
       option=st.text(max_size=20))
def test_any_text_is_shown_literally_and_adds_no_markup(question, think, option):
    completion = f"<think>{think} at 00:01 {think}</think><answer>{option}</answer>"
    e = ex.analyze(completion, question=question, options=[option], frame_times=[0.0, 1.0], duration=2.0)
    page = hr.render(e)
    assert {tag for tag, _ in parse(page).tags} <= OUR_TAGS
    assert html.escape(question, quote=True) in page


def test_report_without_attention_or_reference(video):
    e = ex.analyze(COMPLETION, question="Q", options=OPTIONS, frame_times=video.times, duration=video.duration,
                   vas_note="not measured (switched off)")
    e.frames = video.frames
    page = hr.render(e)
    assert "attention not measured (switched off)" in page and "TAR" not in page
    assert "matched reference" not in page and page.count("<img") == 5 + len(video.times)


def test_time_ticks():
    assert hr.time_ticks(4.0) == [0, 1, 2, 3, 4]
    assert hr.time_ticks(0) == [0.0]
    for end in (0.3, 7, 59.9, 600, 3 * 3600, 50 * 3600):
        ticks = hr.time_ticks(end)
        assert ticks[0] == 0 and ticks[-1] <= end and len(ticks) <= hr.MAX_TICKS + 1


# --- writing -----------------------------------------------------------------------------------


def test_never_overwrites_without_force(report, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("keep me")
    with pytest.raises(Vr2Error, match="already exists.*--force"):
        hr.write_report(report, out)
    assert out.read_text() == "keep me"
    hr.write_report(report, out, force=True)
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind
    with pytest.raises(Vr2Error, match="does not exist"):
        hr.check_output(tmp_path / "nope" / "r.html")
    with pytest.raises(Vr2Error, match="is a directory"):
        hr.check_output(tmp_path, force=True)


# --- in a real browser -------------------------------------------------------------------------



@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian chromium")
def test_renders_in_chromium_with_its_images(report, tmp_path):
    from PIL import Image

    page = hr.write_report(report, tmp_path / "report.html")
    dom = chromium(tmp_path / "profile1", "--dump-dom", page.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = [attrs for tag, attrs in parse(dom.stdout).tags if tag == "img"]
    assert len(images) >= 5 + len(report.frame_times)
    assert all(attrs["src"].startswith("data:image/jpeg;base64,") for attrs in images)
    assert "<svg" in dom.stdout and "Claims timeline" in dom.stdout

    shot = tmp_path / "shot.png"
    result = chromium(tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1200,2000",
                       page.resolve().as_uri())
    assert shot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    assert len(np.unique(pixels, axis=0)) > 200  # not a blank page
    # the thumbnails were decoded and painted: their background colours fill many pixels
    for second in (0, 1):
        near = np.abs(pixels - np.array(second_colour(second))).max(axis=1) < 25
        assert near.sum() > 2000, second
