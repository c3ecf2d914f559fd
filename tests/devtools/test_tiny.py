"""The tiny Qwen2.5-VL: deterministic, loads through the real Auto* classes, real conventions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vr2.devtools.tiny import SPECIAL_TOKENS, build_tiny_model


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def reloaded(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir), AutoModelForImageTextToText.from_pretrained(tiny_model_dir)


def test_same_seed_gives_identical_files(tiny_model_dir, tmp_path):
    again = build_tiny_model(tmp_path / "again", seed=0)
    assert _digest(again) == _digest(tiny_model_dir)


def test_other_seed_changes_weights_not_tokenizer(tiny_model_dir, tmp_path):
    other = _digest(build_tiny_model(tmp_path / "other", seed=1))
    base = _digest(tiny_model_dir)
    assert other["model.safetensors"] != base["model.safetensors"]
    assert other["tokenizer.json"] == base["tokenizer.json"]


def test_reloads_as_qwen2_5_vl(reloaded):
    processor, model = reloaded
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads) == (64, 2, 4, 2)
    assert text.rope_parameters["mrope_section"] == [4, 2, 2]
    assert model.config.vision_config.depth == 2
    assert model.config.vision_config.out_hidden_size == 64
    assert sum(p.numel() for p in model.parameters()) < 500_000


def test_special_tokens_are_single_ids_matching_config(reloaded):
    processor, model = reloaded
    tok = processor.tokenizer
    for token in SPECIAL_TOKENS:
        assert len(tok(token)["input_ids"]) == 1, token
    assert model.config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert model.config.text_config.vocab_size == len(tok)


@pytest.mark.parametrize(
    "text",
    ["<think>At 00:01:23 the man opens the door.</think><answer>B</answer>", "Ünïcode 猫 12:34 ✓", " two  spaces\n"],
)
def test_tokenizer_round_trips(reloaded, text):
    tok = reloaded[0].tokenizer
    assert tok.decode(tok(text)["input_ids"]) == text


def test_tokenizer_learned_prompt_words(reloaded):
    # The BPE saw our prompt words, so common ones are single tokens, not letters.
    tok = reloaded[0].tokenizer
    for word in [" the", " answer", " video", " frame"]:
        assert len(tok(word)["input_ids"]) == 1, word


def test_chat_template_renders_qwen_turns(reloaded):
    tok = reloaded[0].tokenizer
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Why?"}]}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Why?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_processor_expands_video_tokens(reloaded, make_video):
    processor, _ = reloaded
    video = make_video(frames=4, height=56, width=84)
    text = "<|vision_start|><|video_pad|><|vision_end|>hi"
    out = processor(text=[text], return_tensors="pt", **video.processor_kwargs())
    t, h, w = out["video_grid_thw"][0].tolist()
    assert (t, h, w) == (2, 4, 6)  # frames kept at 56x84: no resizing by the tiny processor
    n_video = int((out["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")).sum())
    assert n_video == t * h * w // 4 == int((out["mm_token_type_ids"] == 2).sum())
    assert out["second_per_grid_ts"].tolist() == [1.0]  # 2 frames per step at 2 fps


def test_cli_run_writes_a_loadable_model(tmp_path, capsys):
    from vr2.cli.tiny_model import run

    run(tmp_path / "m", seed=3)
    assert (tmp_path / "m" / "config.json").is_file()
    assert "m" in capsys.readouterr().out
