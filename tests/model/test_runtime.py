"""Loading, input preparation and generation with the tiny Qwen2.5-VL on CPU."""

from __future__ import annotations

import pytest
import torch

from vr2.model import runtime as vm
from vr2.errors import Vr2Error


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return vm.load_model(str(tiny_model_dir))


def test_load_defaults_on_cpu(loaded):
    assert loaded.device == "cpu"
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert not loaded.model.training
    assert loaded.model.config.text_config._attn_implementation != "eager"


def test_load_with_dtype_and_attention(tiny_model_dir):
    other = vm.load_model(tiny_model_dir, dtype="bfloat16", attn_implementation="eager")
    assert next(other.model.parameters()).dtype == torch.bfloat16
    assert other.model.config.text_config._attn_implementation == "eager"


def test_missing_folder_is_named(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(Vr2Error, match="nothing: no model folder"):
        vm.load_model(str(missing))


def test_unreachable_hub_id_is_named(monkeypatch):
    import huggingface_hub.constants

    # Offline mode makes the hub fail at once instead of after network retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(Vr2Error, match="^no-such-org/no-such-model: could not load"):
        vm.load_model("no-such-org/no-such-model")


def test_dtype_and_device_resolution():
    assert vm.resolve_dtype("auto", "cpu") == torch.float32
    assert vm.resolve_dtype("auto", "cuda") == torch.bfloat16
    assert vm.resolve_dtype("float16", "cpu") == torch.float16
    with pytest.raises(Vr2Error, match="dtype"):
        vm.resolve_dtype("float13", "cpu")
    if not torch.cuda.is_available():
        assert vm.resolve_device("auto") == "cpu"
        with pytest.raises(Vr2Error, match="device"):
            vm.resolve_device("cuda")


def test_prepare_inputs_marks_video_tokens(loaded, make_video):
    inputs = vm.prepare_inputs(loaded, make_video(frames=6, height=56, width=56), "Why?", ["a", "b"])
    video_id = loaded.model.config.video_token_id
    t, h, w = inputs["video_grid_thw"][0].tolist()
    assert t == 3
    video_slots = inputs["input_ids"] == video_id
    assert int(video_slots.sum()) == t * h * w // 4
    assert torch.equal(inputs["mm_token_type_ids"] == 2, video_slots)
    assert int((inputs["mm_token_type_ids"] == 1).sum()) == 0
    assert inputs["second_per_grid_ts"].tolist() == [1.0]


def test_positions_depend_on_mm_token_type_ids(loaded, make_video):
    # Why prepare_inputs insists on them: without, transformers silently uses 1-D positions.
    inputs = vm.prepare_inputs(loaded, make_video(), "Why?", ["a", "b"])
    with torch.inference_mode():
        full = loaded.model(**inputs).logits
        without = loaded.model(**{k: v for k, v in inputs.items() if k != "mm_token_type_ids"}).logits
    assert not torch.allclose(full, without)


def test_modes_change_the_prompt(loaded, make_video):
    video = make_video()
    think = vm.prepare_inputs(loaded, video, "Why?", ["a", "b"], mode="think")["input_ids"]
    direct = vm.prepare_inputs(loaded, video, "Why?", ["a", "b"], mode="direct")["input_ids"]
    assert think.shape != direct.shape or not torch.equal(think, direct)


def test_generate_returns_text_and_ids(loaded, make_video):
    gen = vm.generate(loaded, make_video(), "What is shown?", ["a cat", "a dog"], max_new_tokens=12)
    assert 0 < len(gen.output_ids) <= 12
    assert gen.text == loaded.tokenizer.decode(gen.output_ids, skip_special_tokens=True)
    assert gen.prompt_ids.ndim == 1 and gen.prompt_ids[-1] != loaded.tokenizer.pad_token_id
    assert torch.equal(gen.inputs["input_ids"][0], gen.prompt_ids)
    assert gen.frame_times == [0.0, 0.5, 1.0, 1.5]
    vision_ids = set(vm._special_ids(loaded, vm.VISION_TOKENS))
    assert not vision_ids & set(gen.output_ids.tolist())


def test_generation_is_deterministic(loaded, make_video):
    video = make_video(seed=4)
    greedy = [vm.generate(loaded, video, "Why?", None, max_new_tokens=10).output_ids.tolist() for _ in range(2)]
    assert greedy[0] == greedy[1]
    sampled = [
        vm.generate(loaded, video, "Why?", None, max_new_tokens=10, temperature=1.0, seed=s).output_ids.tolist()
        for s in (7, 7, 8)
    ]
    assert sampled[0] == sampled[1]
    assert sampled[0] != sampled[2]


def test_batch_equals_one_by_one_greedy(loaded, make_video):
    # Different frame counts, sizes and prompt lengths, so left padding really happens.
    items = [
        (make_video(seed=0, frames=4, height=56, width=84), "What is shown?", ["a cat", "a dog"]),
        (make_video(seed=1, frames=6, height=112, width=56), "How many people are there in the room?", None),
        (make_video(seed=2, frames=2, height=56, width=56), "Why?", ["x", "y", "z"]),
    ]
    batch = vm.generate_batch(loaded, items, max_new_tokens=16)
    lengths = {len(g.prompt_ids) for g in batch}
    assert len(lengths) == 3
    for got, item in zip(batch, items):
        alone = vm.generate(loaded, *item, max_new_tokens=16)
        assert got.output_ids.tolist() == alone.output_ids.tolist()
        assert got.text == alone.text
        assert torch.equal(got.prompt_ids, alone.prompt_ids)
        for key, value in alone.inputs.items():
            assert torch.equal(got.inputs[key], value), key


def test_keep_inputs_false_drops_pixels(loaded, make_video):
    gen = vm.generate(loaded, make_video(), "Why?", None, max_new_tokens=4, keep_inputs=False)
    assert gen.inputs is None and len(gen.prompt_ids) > 0


def test_negative_temperature(loaded, make_video):
    with pytest.raises(Vr2Error, match="temperature"):
        vm.generate(loaded, make_video(), "Why?", None, max_new_tokens=4, temperature=-1)


def test_generate_from_a_real_video_file(loaded, tmp_path):
    from vr2.devtools.synthetic import write_test_video
    from vr2.video.sampling import sample_video

    path = write_test_video(tmp_path / "clip.mp4", seconds=3.0, fps=10, size=(112, 84))
    video = sample_video(path, fps=2.0, max_frames=8, min_pixels=56 * 56, max_pixels=112 * 84, subtitles=None)
    gen = vm.generate(loaded, video, "What colour is the background?", ["red", "green"], max_new_tokens=8)
    assert gen.frame_times == video.times
    steps = int(gen.inputs["video_grid_thw"][0, 0])
    assert steps == (len(video.times) + 1) // 2
    assert gen.inputs["second_per_grid_ts"].tolist() == pytest.approx([2 / video.sample_fps])


def test_frames_on_the_patch_grid_are_not_resized(tiny_model_dir, make_video):
    # Even with a processor budget that would upscale them (as the real one does below
    # 100,352 pixels), frames already sized by the sampler go in unchanged.
    loaded = vm.load_model(str(tiny_model_dir))
    loaded.processor.video_processor.size = {"shortest_edge": 100_352, "longest_edge": 602_112}
    inputs = vm.prepare_inputs(loaded, make_video(frames=2, height=56, width=84), "Why?", None)
    assert inputs["video_grid_thw"][0].tolist() == [1, 4, 6]
    # Frames off the grid are left to the processor's own resizing.
    odd = vm.prepare_inputs(loaded, make_video(frames=2, height=50, width=90), "Why?", None)
    t, h, w = odd["video_grid_thw"][0].tolist()
    assert h * w * 14 * 14 >= 100_352
