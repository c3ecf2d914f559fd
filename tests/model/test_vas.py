"""vas_attn: reasoning-token selection, faithful replay, and the score against eager attention."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.model import runtime as vm
from vr2.model import vas
from vr2.errors import Vr2Error

COMPLETION = "<think>At 00:00:01 the cat sits. Héllo 猫, then at 00:00:02 it runs.</think><answer>A</answer><|im_end|>"


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return vm.load_model(str(tiny_model_dir))


def _with_output(loaded, video, completion: str) -> vm.Generation:
    """A Generation whose completion is `completion` (teacher forcing works on any ids)."""
    inputs = vm.split_batch(vm.prepare_inputs(loaded, video, "What is shown?", ["a cat", "a dog"]))[0]
    ids = torch.tensor(loaded.tokenizer(completion)["input_ids"])
    return vm.Generation(
        text=loaded.tokenizer.decode(ids, skip_special_tokens=True),
        prompt_ids=inputs["input_ids"][0],
        output_ids=ids,
        inputs=inputs,
        frame_times=list(video.times),
    )


def _eager_reference(loaded, gen, layer: int = -1):
    """Score and per-step mass straight from the full eager attention tensor, in numpy."""
    previous = loaded.model.config.text_config._attn_implementation
    loaded.model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            out = loaded.model(**vas.replay_inputs(gen), output_attentions=True)
    finally:
        loaded.model.set_attn_implementation(previous)
    att = out.attentions[layer][0].double().numpy()  # heads x L x L
    rows = vas.reasoning_query_positions(loaded.tokenizer, gen)
    video = np.flatnonzero(gen.prompt_ids.numpy() == loaded.model.config.video_token_id)
    on_video = att[:, rows][:, :, video]  # heads x rows x V
    steps = int(gen.inputs["video_grid_thw"][0, 0])
    per_step = on_video.reshape(on_video.shape[0], len(rows), steps, -1).sum(-1).mean(axis=(0, 1))
    return 100 * on_video.sum(-1).mean(), per_step


# --- which tokens are reasoning ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_token_bytes_rebuild_the_text(tiny_model_dir, text):
    from transformers import AutoTokenizer

    tok = _tokenizer(tiny_model_dir, AutoTokenizer)
    ids = tok(text)["input_ids"]
    assert b"".join(vas.token_bytes(tok, ids)) == tok.decode(ids).encode("utf-8")


_TOKENIZERS: dict = {}


def _tokenizer(path, cls):
    if path not in _TOKENIZERS:
        _TOKENIZERS[path] = cls.from_pretrained(path)
    return _TOKENIZERS[path]


thinking = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).filter(lambda s: "</think>" not in s)


@settings(max_examples=60, deadline=None)
@given(before=st.text(max_size=10).filter(lambda s: "<think>" not in s), inside=thinking, after=st.text(max_size=10))
def test_reasoning_mask_covers_exactly_the_think_block(tiny_model_dir, before, inside, after):
    from transformers import AutoTokenizer

    tok = _tokenizer(tiny_model_dir, AutoTokenizer)
    # Qwen's tokenizer NFC-normalises its input, so compare against normalised text
    before, inside, after = (unicodedata.normalize("NFC", s) for s in (before, inside, after))
    text = f"{before}<think>{inside}</think>{after}"
    ids = tok(text)["input_ids"]
    mask = vas.reasoning_token_mask(tok, ids)
    pieces = vas.token_bytes(tok, ids)
    start = len(before.encode()) + len(b"<think>")
    end = start + len(inside.encode())
    offset, covered = 0, bytearray()
    for piece, flag in zip(pieces, mask):
        overlaps = offset < end and offset + len(piece) > start
        assert flag == overlaps
        if flag:
            covered += piece
        offset += len(piece)
    assert inside.encode() in bytes(covered)


def test_reasoning_mask_without_think_or_unclosed(loaded):
    tok = loaded.tokenizer
    assert not any(vas.reasoning_token_mask(tok, tok("<answer>B</answer>")["input_ids"]))
    unclosed = tok("<think>still going")["input_ids"]
    assert vas.reasoning_token_mask(tok, unclosed)[-1]


def test_query_rows_are_the_steps_that_emitted_reasoning(loaded, make_video):
    gen = _with_output(loaded, make_video(), COMPLETION)
    rows = vas.reasoning_query_positions(loaded.tokenizer, gen)
    emitted = [row + 1 - len(gen.prompt_ids) for row in rows]  # index into output_ids
    mask = vas.reasoning_token_mask(loaded.tokenizer, gen.output_ids.tolist())
    assert emitted == [j for j, flag in enumerate(mask) if flag]
    first = loaded.tokenizer.decode(gen.output_ids[emitted[0] : emitted[0] + 1])
    assert "At" in first and "think" not in first


# --- replay ----------------------------------------------------------------------------------


def test_replay_reproduces_greedy_generation(loaded, make_video):
    # Teacher forcing with the same positions must predict every generated token again.
    gen = vm.generate(loaded, make_video(seed=3, frames=6), "Why?", ["a", "b"], max_new_tokens=20)
    with torch.inference_mode():
        logits = loaded.model(**vas.replay_inputs(gen)).logits[0]
    prompt_len = len(gen.prompt_ids)
    allowed = logits.clone()
    allowed[:, vm._special_ids(loaded, vm.VISION_TOKENS)] = float("-inf")  # suppressed while generating
    predicted = allowed[prompt_len - 1 : -1].argmax(-1)
    assert predicted.tolist() == gen.output_ids.tolist()


def test_replay_needs_inputs(loaded, make_video):
    gen = vm.generate(loaded, make_video(), "Why?", None, max_new_tokens=2, keep_inputs=False)
    with pytest.raises(Vr2Error, match="keep_inputs"):
        vas.vas_attn(loaded, gen)


# --- the score ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frames", [4, 5])
def test_score_matches_eager_attention(loaded, make_video, frames):
    gen = _with_output(loaded, make_video(seed=frames, frames=frames), COMPLETION)
    result = vas.vas_attn(loaded, gen)
    reference, per_step = _eager_reference(loaded, gen)
    assert 0 <= result.score <= 100
    assert result.score == pytest.approx(reference, rel=1e-4)
    assert result.think_token_count == len(vas.reasoning_query_positions(loaded.tokenizer, gen))
    assert result.per_frame_times == gen.frame_times
    assert sum(result.per_frame) == pytest.approx(1.0)
    # Frame shares: each step's share split over the frames it covers (the last step of an
    # odd count covers one frame).
    shares = per_step / per_step.sum()
    expected = [shares[f // 2] / min(2, frames - (f // 2) * 2) for f in range(frames)]
    assert result.per_frame == pytest.approx(expected, rel=1e-4)


def test_other_layer_matches_eager(loaded, make_video):
    gen = _with_output(loaded, make_video(seed=9), COMPLETION)
    reference, _ = _eager_reference(loaded, gen, layer=0)
    assert vas.vas_attn(loaded, gen, layer=0).score == pytest.approx(reference, rel=1e-4)
    assert vas.vas_attn(loaded, gen, layer=0).score != pytest.approx(vas.vas_attn(loaded, gen).score)


def test_attention_implementation_is_restored(loaded, make_video):
    before = loaded.model.config.text_config._attn_implementation
    vas.vas_attn(loaded, _with_output(loaded, make_video(), COMPLETION))
    assert loaded.model.config.text_config._attn_implementation == before
    assert loaded.model.config.vision_config._attn_implementation == before


def test_no_reasoning_gives_no_score(loaded, make_video):
    result = vas.vas_attn(loaded, _with_output(loaded, make_video(), "<answer>A</answer>"))
    assert result.score is None and result.think_token_count == 0 and result.per_frame == []


def test_frame_times_must_fit_the_grid(loaded, make_video):
    gen = _with_output(loaded, make_video(frames=4), COMPLETION)
    with pytest.raises(Vr2Error, match="frame_times"):
        vas.vas_attn(loaded, gen, frame_times=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    custom = vas.vas_attn(loaded, gen, frame_times=[10.0, 11.0, 12.0])
    assert custom.per_frame_times == [10.0, 11.0, 12.0] and len(custom.per_frame) == 3


def test_times_from_grid_when_unknown(loaded, make_video):
    gen = _with_output(loaded, make_video(frames=4, fps=2.0), COMPLETION)
    gen.frame_times = None
    assert vas.vas_attn(loaded, gen).per_frame_times == [0.0, 0.5, 1.0, 1.5]


def test_generated_sample_end_to_end(loaded, make_video):
    gen = vm.generate(loaded, make_video(seed=5), "Why?", ["a", "b"], max_new_tokens=6)
    gen.output_ids = torch.cat([torch.tensor(loaded.tokenizer("<think>")["input_ids"]), gen.output_ids])
    result = vas.vas_attn(loaded, gen)
    assert result.think_token_count >= 1
    assert 0 <= result.score <= 100
    assert result.to_dict()["vas_attn"] == result.score
