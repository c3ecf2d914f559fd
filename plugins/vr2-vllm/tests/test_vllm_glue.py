"""The vLLM fast path's glue (plugins/vr2-vllm), tested without vLLM: the exact request objects
and sampling parameters, checked against what vr2's transformers path feeds the processor."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vr2.errors import MissingExtra, Vr2Error

PLUGIN_SRC = Path(__file__).resolve().parents[1] / "src"  # plugins/vr2-vllm/src


@pytest.fixture(scope="module")
def glue():
    sys.path.insert(0, str(PLUGIN_SRC))
    try:
        import vr2_vllm

        yield vr2_vllm
    finally:
        sys.path.remove(str(PLUGIN_SRC))


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from vr2.model.runtime import load_model

    return load_model(str(tiny_model_dir))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from vr2.devtools.synthetic import write_test_video
    from vr2.video.sampling import sample_video

    path = write_test_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=2.0, fps=10, size=(64, 48))
    return sample_video(path, fps=2.0, max_frames=4, min_pixels=28 * 28, max_pixels=56 * 84)


def test_request_object(glue, loaded, video):
    from vr2.model.runtime import prompt_text

    request = glue.build_request(loaded.processor, video, "What colour?", ["red", "blue"])
    assert set(request) == {"prompt", "multi_modal_data"}
    # the same prompt as vr2's generate_batch, one placeholder for vLLM to expand
    assert request["prompt"] == prompt_text(loaded, "What colour?", ["red", "blue"], "think")
    assert request["prompt"].count("<|vision_start|><|video_pad|><|vision_end|>") == 1
    frames, meta = request["multi_modal_data"]["video"]
    assert frames is video.frames and frames.dtype == np.uint8 and frames.shape[0] == 4
    assert set(meta) == {"fps", "duration", "total_num_frames", "frames_indices", "do_sample_frames"}
    assert meta["do_sample_frames"] is False
    # 4 frames at the 2 fps they were taken at: vLLM's time step is 2 / sample_fps exactly.
    assert meta["fps"] == video.sample_fps == 2.0
    assert meta["frames_indices"] == [0, 1, 2, 3] and meta["total_num_frames"] == 4
    direct = glue.build_request(loaded.processor, video, "What colour?", ["red", "blue"], mode="direct")
    assert "<think>" not in direct["prompt"] and "letter" in direct["prompt"]


def test_metadata_gives_the_same_model_inputs_as_vr2(glue, loaded, video):
    """What vLLM hands Qwen2.5-VL's HF processor (frames + this metadata) yields the same video
    grid and time step (`second_per_grid_ts`) as vr2's own path."""
    from transformers.video_utils import VideoMetadata

    from vr2.model.runtime import prepare_inputs

    request = glue.build_request(loaded.processor, video, "Q?", None)
    frames, meta = request["multi_modal_data"]["video"]
    fields = {k: v for k, v in meta.items() if k != "do_sample_frames"}
    theirs = loaded.processor(text=[request["prompt"]], videos=[frames],
                              video_metadata=[VideoMetadata(**fields)],
                              do_sample_frames=meta["do_sample_frames"], return_tensors="pt")
    ours = prepare_inputs(loaded, video, "Q?", None)
    assert theirs["video_grid_thw"].tolist() == ours["video_grid_thw"].tolist()
    assert theirs["second_per_grid_ts"].tolist() == pytest.approx(ours["second_per_grid_ts"].tolist())
    assert theirs["second_per_grid_ts"].tolist() == pytest.approx([1.0])  # 2 frames at 2 fps
    assert theirs["input_ids"].tolist() == ours["input_ids"].cpu().tolist()


def test_sampling_kwargs(glue):
    greedy = glue.sampling_kwargs(max_new_tokens=1024, temperature=0.0, top_p=0.5, seed=3)
    assert greedy == {"max_tokens": 1024, "temperature": 0.0, "top_p": 1.0, "repetition_penalty": 1.0,
                      "seed": 3, "skip_special_tokens": True}
    sampled = glue.sampling_kwargs(max_new_tokens=8, temperature=0.9, top_p=0.95)
    assert (sampled["temperature"], sampled["top_p"]) == (0.9, 0.95)
    with pytest.raises(Vr2Error, match="max_new_tokens"):
        glue.sampling_kwargs(max_new_tokens=0)
    with pytest.raises(Vr2Error, match="temperature"):
        glue.sampling_kwargs(temperature=-1)


def vllm_missing() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.mark.skipif(not vllm_missing(), reason="vllm is installed here")
def test_without_vllm_the_engine_names_the_install(glue, tiny_model_dir):
    with pytest.raises(MissingExtra, match="pip install vllm") as err:
        glue.VllmEngine(str(tiny_model_dir))
    assert "vr2-vllm" in str(err.value)
    with pytest.raises(MissingExtra, match="pip install vllm"):
        glue.sampling_params(max_new_tokens=8)


def test_without_the_plugin_eval_names_the_package(monkeypatch):
    from vr2.config import load_recipe
    from vr2.eval.runner import make_engine

    monkeypatch.setitem(sys.modules, "vr2_vllm", None)  # as if not installed
    recipe = load_recipe(None, ["eval.engine=\"vllm\""])
    with pytest.raises(MissingExtra, match="pip install ./plugins/vr2-vllm"):
        make_engine(recipe)


@pytest.mark.skipif(not vllm_missing(), reason="vllm is installed here")
def test_the_plugin_registers_the_vllm_engine_through_the_hook(glue, tiny_model_dir):
    from vr2.plugins import registry as plugins
    from vr2.config import load_recipe

    plugins.register(glue, name="vr2-vllm-test")
    try:
        component = plugins.components("vr2_eval_engines")["vllm"]
        assert component.plugin == "vr2-vllm-test"
        recipe = load_recipe(None, ['eval.engine="vllm"', f'model.name_or_path="{tiny_model_dir}"'])
        with pytest.raises(MissingExtra, match="pip install vllm"):
            plugins.make_engine("vllm", recipe)
    finally:
        plugins.unregister("vr2-vllm-test")


@pytest.mark.skipif(vllm_missing(), reason="needs vllm (a CUDA machine)")
def test_vllm_generates(glue, tiny_model_dir, video):  # pragma: no cover - GPU only
    engine = glue.VllmEngine(str(tiny_model_dir), dtype="float32", gpu_memory_utilization=0.2)
    texts = engine.generate([(video, "Q?", ["a", "b"])], max_new_tokens=8)
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_plugin_module_imports_vllm_only_inside_functions(glue):
    import ast

    tree = ast.parse((PLUGIN_SRC / "vr2_vllm" / "__init__.py").read_text())
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
    modules += [node.module for node in top if isinstance(node, ast.ImportFrom)]
    assert modules and not any(m.split(".")[0] in ("vllm", "torch", "transformers") for m in modules)


def test_each_rank_pins_its_own_gpu(glue):
    env = {}
    assert glue.pin_gpu("cuda:3", env) == "3" and env == {"CUDA_VISIBLE_DEVICES": "3"}
    env = {"CUDA_VISIBLE_DEVICES": "4, 5,6,7"}  # a launcher that already restricted the GPUs
    assert glue.pin_gpu("cuda:1", env) == "5" and env["CUDA_VISIBLE_DEVICES"] == "5"
    for device in ("auto", "cuda", "cpu"):
        env = {"CUDA_VISIBLE_DEVICES": "0,1"}
        assert glue.pin_gpu(device, env) is None and env == {"CUDA_VISIBLE_DEVICES": "0,1"}
    with pytest.raises(Vr2Error, match="lists 2 GPU"):
        glue.pin_gpu("cuda:2", {"CUDA_VISIBLE_DEVICES": "0,1"})
    with pytest.raises(Vr2Error, match="cuda:<number>"):
        glue.pin_gpu("cuda:x", {})


def test_a_sharded_run_gives_the_engine_its_ranks_gpu(glue, monkeypatch, tiny_model_dir):
    # What `vr2 eval` under torchrun hands the engine on rank 2: model.device = "cuda:2".
    from vr2.config import load_recipe

    seen = {}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # setenv, not delenv: restored after the test
    monkeypatch.setattr(glue, "VllmEngine", lambda *a, **k: seen.setdefault(
        "visible", glue.os.environ.get("CUDA_VISIBLE_DEVICES")))
    recipe = load_recipe(None, ['eval.engine="vllm"', f'model.name_or_path="{tiny_model_dir}"',
                                'model.device="cuda:2"'])
    glue.VllmEvalEngine(recipe)
    assert seen == {"visible": "2"}


def test_under_a_launcher_vllm_spawns_its_engine(glue):
    env = {"WORLD_SIZE": "8"}
    assert glue.keep_out_of_the_launchers_group(env) and env["VLLM_WORKER_MULTIPROC_METHOD"] == "spawn"
    env = {"WORLD_SIZE": "8", "VLLM_WORKER_MULTIPROC_METHOD": "fork"}  # the user's choice stays
    assert not glue.keep_out_of_the_launchers_group(env) and env["VLLM_WORKER_MULTIPROC_METHOD"] == "fork"
    for single in ({}, {"WORLD_SIZE": "1"}):
        assert not glue.keep_out_of_the_launchers_group(single) and "VLLM_WORKER_MULTIPROC_METHOD" not in single
