"""benchmarks/gpu_check.py, the prepared GPU check: it runs end to end on the tiny model on the CPU, stops
at its budget keeping what it measured, and everything it imports is on the GPU image or in its wheels."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # gpu_check imports bench_tar, which imports release_loop
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_check():
    return _load("gpu_check")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One `--tiny` run of every section, as on the GPU box but on the CPU (~30 s idle)."""
    root = tmp_path_factory.mktemp("gpu-check")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--tiny", "--out", str(root / "out"),
         "--work", str(root / "work"), "--budget-s", "800"],
        env=env, capture_output=True, text=True, timeout=850)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    return process, json.loads((root / "out" / "gpu_check.json").read_text()), root / "out"


def _figures(section: dict) -> dict:
    return {f["name"]: f["value"] for f in section["figures"]}


def _names(text: str) -> set[str]:
    return {re.split(r"[=<>~!;\[ ]", line.strip())[0].lower().replace("_", "-")
            for line in text.splitlines() if line.strip() and not line.startswith("#")}


def _image() -> set[str]:
    return _names((BENCHMARKS / "gpu_image_packages.txt").read_text())


def _wheels() -> dict[str, str]:
    lines = (BENCHMARKS / "gpu_wheels.txt").read_text().splitlines()
    return dict(line.lower().split("==") for line in lines if line and not line.startswith("#"))


def _not_carried() -> set[str]:
    line = next(l for l in (BENCHMARKS / "gpu_wheels.txt").read_text().splitlines() if l.startswith("# not carried:"))
    return {name.strip() for name in line.split(":", 1)[1].split(",")}


def _vr2_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _names("\n".join(project["dependencies"]))


# --------------------------------------------------------------------------- the tiny run


def test_every_section_runs_on_the_tiny_model_and_the_table_is_written(tiny_run):
    process, report, out = tiny_run
    assert list(report["sections"]) == ["tar", "grpo", "sft", "eval"]
    for name, section in report["sections"].items():
        assert section["status"].startswith("ok"), (name, section.get("error"))
    text = (out / "gpu_check.txt").read_text()
    assert text.strip() in process.stdout
    assert report["environment"]["versions"]["torch"] and report["total_s"] < report["budget_s"]


def test_every_figure_is_listed_under_its_device_dtype_and_sizes(tiny_run):
    _, report, out = tiny_run
    text = (out / "gpu_check.txt").read_text()
    for section in report["sections"].values():
        assert section["device"] and section["dtype"] and section["sizes"] and section["figures"]
        assert section["device"] in text and section["sizes"] in text


def test_grpo_splits_each_step_and_moves_only_the_trained_weights(tiny_run):
    grpo = tiny_run[1]["sections"]["grpo"]
    assert len(grpo["steps"]) == 2
    for step in grpo["steps"]:
        phases = step["phases_s"]
        for phase in ("generation", "log-prob forward", "loss forward", "backward", "optimizer"):
            assert phases[phase] > 0, phase
        assert "rewards" in phases and sum(phases.values()) == pytest.approx(step["total_s"], abs=0.01)
    # The GPU recipe's precision, reproduced on the CPU: float32 masters under bf16 autocast.
    assert grpo["dtype"] == "float32 weights (master float32), bf16 autocast"
    weights = grpo["weights"]
    assert weights["trainable_tensors_moved"] == weights["trainable_tensors"] > 0
    assert weights["frozen_tensors_moved"] == 0 < weights["frozen_tensors"]  # vision and merger stay frozen
    assert _figures(grpo)["grpo: mean completion length"] == 16  # forced to the full length by a random model
    assert not grpo["memory_estimate"]["7b"]["fits_one_80gb_card"] and grpo["memory_estimate"]["3b"]["fits_one_80gb_card"]


def test_sft_times_a_sample_and_trains_only_lora(tiny_run):
    sft = tiny_run[1]["sections"]["sft"]
    figures = _figures(sft)
    assert figures["sft: forward + backward per sample (last step)"] > 0
    assert figures["sft: trainable (LoRA) parameters"] > 0
    assert sft["weights"]["frozen_tensors_moved"] == 0 and sft["weights"]["trainable_tensors_moved"] > 0


def test_eval_generates_full_answers_at_both_batch_sizes_and_scores_them(tiny_run):
    evaluation = tiny_run[1]["sections"]["eval"]
    for batch in (1, 8):
        result = evaluation[f"batch_{batch}"]
        assert result["new_tokens"] == 16 * batch
        assert result["vas_s"] > 0 and min(result["vas_reasoning_tokens"]) > 0  # vas_attn really ran
    assert "protocol paper" in evaluation["sizes"]


def test_tar_times_vr2_and_the_release_loop_on_the_same_encoder(tiny_run):
    result = tiny_run[1]["sections"]["tar"]["result"]
    assert result["official_s"] > 0 and result["vr2_s"] > 0 and result["completions"] == 4


def test_what_the_check_imports_is_on_the_gpu_image_or_carried(tiny_run):
    """Of the packages vr2 and the wheels depend on, each one a section imported is on the image or in
    the wheels; the ones left behind are never imported."""
    wheels = _wheels()
    ours = _vr2_dependencies() | set(wheels)
    for name in wheels:
        ours |= _requirements(name)
    owners = {module: {d.lower().replace("_", "-") for d in dists}
              for module, dists in metadata.packages_distributions().items()}
    for name, section in tiny_run[1]["sections"].items():
        imported = set().union(*(owners.get(m, set()) for m in section["imported_modules"]))
        assert imported & ours <= _image() | set(wheels), (name, sorted(imported & ours - _image() - set(wheels)))
        assert not imported & _not_carried(), (name, imported & _not_carried())


# --------------------------------------------------------------------------- the wheel list


def _requirements(name: str) -> set[str]:
    """What a package needs on the GPU image (CPython 3.12 on Linux, no extras)."""
    from packaging.requirements import Requirement

    needed = set()
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(
                {"python_version": "3.12", "sys_platform": "linux", "platform_system": "Linux", "extra": ""}):
            needed.add(requirement.name.lower().replace("_", "-"))
    return needed


def test_each_wheels_requirements_are_on_the_image_or_in_the_list():
    wheels = _wheels()
    checked = 0
    for name, version in wheels.items():
        try:
            if metadata.version(name) != version:
                continue  # another version here: its requirements say nothing of the pinned one
        except metadata.PackageNotFoundError:
            continue
        missing = _requirements(name) - _image() - set(wheels)
        assert not missing, f"{name}=={version} needs {sorted(missing)}: add them to benchmarks/gpu_wheels.txt"
        checked += 1
    assert checked >= 3  # trl, datasets and av are installed at the pinned versions in vr2's environment


def test_every_vr2_dependency_is_on_the_image_carried_or_named_as_left_behind():
    unplaced = _vr2_dependencies() - _image() - set(_wheels()) - _not_carried()
    assert not unplaced, f"place {sorted(unplaced)} in benchmarks/gpu_wheels.txt (carried or not carried)"


# --------------------------------------------------------------------------- the random models


def test_the_random_minilm_has_all_minilm_l6_v2s_configuration(gpu_check, tmp_path):
    from vr2.scoring.embedding import minilm_path

    real = minilm_path()
    config = json.loads((real / "config.json").read_text())
    assert {k: config[k] for k in gpu_check.MINILM_CONFIG} == gpu_check.MINILM_CONFIG
    assert json.loads((real / "sentence_bert_config.json").read_text())["max_seq_length"] == gpu_check.MINILM_MAX_SEQ_LENGTH
    folder = gpu_check.random_minilm(gpu_check.Plan(tiny=True, work=str(tmp_path)))
    for name in ("1_Pooling/config.json", "modules.json"):
        assert json.loads((folder / name).read_text()) == json.loads((real / name).read_text())
    from safetensors import safe_open

    def shapes(path):
        with safe_open(str(path / "model.safetensors"), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys() if not k.endswith("position_ids")}

    assert shapes(folder) == shapes(real)  # the weights, tensor by tensor (position_ids is an index buffer)


def test_the_random_minilm_cuts_the_tar_batch_into_as_many_tokens_as_minilm(gpu_check, tmp_path):
    from transformers import AutoTokenizer

    from vr2.scoring.embedding import minilm_path

    bench_tar = _load("bench_tar")
    sentences = list(dict.fromkeys(c.text for p, r in bench_tar.make_batch() for c in (*p, *r)))
    folder = gpu_check.random_minilm(gpu_check.Plan(tiny=True, work=str(tmp_path)))
    ours = sum(len(ids) for ids in AutoTokenizer.from_pretrained(str(folder))(sentences)["input_ids"])
    real = sum(len(ids) for ids in AutoTokenizer.from_pretrained(str(minilm_path()))(sentences)["input_ids"])
    assert abs(ours - real) / real < 0.05, (ours, real)


def test_the_released_sizes_have_their_parameter_counts_and_only_3b_fits_grpo(gpu_check):
    # Qwen2.5-VL-3B-Instruct: 3.75B parameters; 7B-Instruct: 8.29B (their model cards).
    assert gpu_check.parameter_counts("3b")["total"] == pytest.approx(3.75e9, rel=0.003)
    assert gpu_check.parameter_counts("7b")["total"] == pytest.approx(8.29e9, rel=0.003)
    assert gpu_check.memory_estimate("3b")["fits_one_80gb_card"]
    assert not gpu_check.memory_estimate("7b")["fits_one_80gb_card"]


def test_a_random_checkpoint_with_the_real_vocabulary_loads_and_generates(gpu_check, tmp_path, monkeypatch, make_video):
    """What the GPU box writes for 3B/7B, at a size a CPU builds in a second: the real vocabulary over
    vr2's tiny tokenizer (ids past the tokenizer decode to nothing) and the released layout."""
    from vr2.model.runtime import generate_batch, load_model

    monkeypatch.setitem(gpu_check.SIZES, "small", dict(gpu_check.SIZES["3b"], hidden_size=64, intermediate_size=128,
                                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    monkeypatch.setattr(gpu_check, "VISION", dict(gpu_check.VISION, depth=2, hidden_size=32, intermediate_size=64,
                                                  num_heads=2, fullatt_block_indexes=[1]))
    monkeypatch.setitem(gpu_check.TEXT, "rope_parameters", dict(gpu_check.TEXT["rope_parameters"], mrope_section=[4, 2, 2]))
    gpu_check.write_random_qwen(tmp_path / "model", "small", "cpu", seed=0)
    loaded = load_model(str(tmp_path / "model"), device="cpu")
    assert loaded.model.config.text_config.vocab_size == 151936 > len(loaded.tokenizer)
    (generation,) = generate_batch(loaded, [(make_video(), "What happens?", None)], max_new_tokens=4, mode="paper")
    assert generation.output_ids.shape[0] >= 1 and isinstance(generation.text, str)


# --------------------------------------------------------------------------- the budget


def test_no_budget_left_skips_every_section_and_still_writes_the_report(gpu_check, tmp_path):
    code = gpu_check.main(["--tiny", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"),
                           "--budget-s", "1"])
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert code == 0 and {s["status"] for s in report["sections"].values()} == {"skipped"}
    assert "budget" in (tmp_path / "out" / "gpu_check.txt").read_text()


def test_a_section_running_at_the_deadline_is_stopped_and_keeps_what_it_wrote(gpu_check, tmp_path, monkeypatch):
    """The child (and its process group) is ended at the deadline; its last written figures stay."""
    script = ("import json, sys, time\n"
              "open(sys.argv[1], 'w').write(json.dumps({'status': 'running', 'figures': "
              "[{'name': 'step 1', 'value': 1.5, 'unit': 's'}]}))\n"
              "time.sleep(120)\n")

    def command(name, plan_file, result, deadline):
        return [sys.executable, "-c", script, str(result)]

    monkeypatch.setattr(gpu_check, "RESERVE_S", 0)
    monkeypatch.setitem(gpu_check.TINY_NEEDS_S, "tar", 0.1)
    args = gpu_check.parse_args(["--tiny", "--only", "tar", "--out", str(tmp_path / "out"),
                                 "--work", str(tmp_path / "work"), "--budget-s", "3"])
    assert gpu_check.orchestrate(args, command=command) == 0
    tar = json.loads((tmp_path / "out" / "gpu_check.json").read_text())["sections"]["tar"]
    assert tar["status"] == "stopped" and "budget" in tar["reason"]
    assert tar["figures"] == [{"name": "step 1", "value": 1.5, "unit": "s"}] and tar["wall_s"] < 20
