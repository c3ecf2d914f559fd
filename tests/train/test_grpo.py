"""GRPO with video in every forward: the proofs, reward masking, and resuming after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vr2.config import load_recipe
from vr2.samples import Sample

REPO = Path(__file__).resolve().parents[2]
TINY_VIDEO = ["video.max_frames=4", "video.min_pixels=3136", "video.max_pixels=12544"]


def varied_reward(completion_ids, **kwargs):
    """Differs between completions of a group almost surely, so advantages are not all zero."""
    return [float(sum(ids) % 13) for ids in completion_ids]


def samples(smoke_dir, n=2):
    return [Sample(id=f"s{k}", video=str(smoke_dir / "videos" / f"clip{k}.mp4"),
                   question="What colour is the background at 00:00:01?", options=["red", "green"],
                   answer="B", answer_type="multiple_choice",
                   temporal_grounding={"00:01": "the background is green"}) for k in range(n)]


def grpo_recipe(out, *overrides):
    return load_recipe(REPO / "recipes" / "smoke" / "grpo.toml", [
        f"model.name_or_path={json.dumps(str(out.parent / 'model'))}",
        f"trainer.output_dir={json.dumps(str(out))}", *TINY_VIDEO,
        "model.freeze_vision=false", "trainer.weight_decay=0.0", "trainer.learning_rate=1e-3",
        "grpo.max_completion_length=12", "trainer.max_steps=1", *overrides])


@pytest.fixture(scope="module")
def trainer(smoke_dir, tmp_path_factory):
    from vr2.train.trl_backend import build_grpo_trainer

    out = tmp_path_factory.mktemp("grpo") / "run"
    (out.parent / "model").symlink_to(smoke_dir / "model")
    return build_grpo_trainer(grpo_recipe(out), samples(smoke_dir), [varied_reward], [1.0])


def vision_params(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if ".visual." in f".{n}"}


def test_vision_weights_change_after_one_step(smoke_dir, tmp_path):
    """With the vision tower unfrozen (and no weight decay), one GRPO step moves its weights."""
    from vr2.train.trl_backend import build_grpo_trainer

    (tmp_path / "model").symlink_to(smoke_dir / "model")
    trainer = build_grpo_trainer(grpo_recipe(tmp_path / "run"), samples(smoke_dir), [varied_reward], [1.0])
    before = vision_params(trainer.model)
    trainer.train()
    after = vision_params(trainer.model)
    blocks = [n for n in before if "blocks" in n]
    moved = [n for n in blocks if not torch.equal(before[n], after[n])]
    assert len(moved) == len(blocks), f"unchanged: {sorted(set(blocks) - set(moved))}"
    largest = max((after[n] - before[n]).abs().max().item() for n in blocks)
    assert 1e-5 < largest < 1e-1


def generation_batch(trainer):
    rows = [dict(trainer.train_dataset[i]) for i in (0, 0, 1, 1)]
    trainer.model.train()
    trainer._step = 0
    trainer._buffered_inputs = None
    trainer.current_gradient_accumulation_steps = 1  # set by train(); used by the loss
    return trainer._prepare_inputs(rows)


def vision_grad(trainer, loss) -> float:
    trainer.model.zero_grad()
    loss.backward()
    grads = [p.grad for n, p in trainer.model.named_parameters() if ".visual." in f".{n}" and p.grad is not None]
    return float(sum(g.abs().sum() for g in grads)) if grads else 0.0


def test_loss_gradient_reaches_the_vision_tower_only_with_the_video(trainer):
    """TRL's own loss forward on the same batch gives the vision tower exactly zero gradient."""
    from trl import GRPOTrainer

    batch = generation_batch(trainer)
    assert batch["advantages"].abs().sum() > 0
    ours = vision_grad(trainer, trainer._compute_loss(trainer.model, batch))
    trl_only = vision_grad(trainer, GRPOTrainer._compute_loss(trainer, trainer.model, batch))
    assert ours > 0
    assert trl_only == 0.0


def logps(trainer, videos, input_ids, keep):
    trainer._videos = videos
    try:
        with torch.no_grad():
            out, _, _ = trainer._get_per_token_logps_and_entropies(
                trainer.model, input_ids, torch.ones_like(input_ids), keep)
    finally:
        trainer._videos = None
    return out


def test_loss_log_probs_change_when_the_video_changes(trainer):
    a, b = trainer.encoder.encode_rows([{"index": 0}, {"index": 1}])
    assert torch.equal(a.input_ids, b.input_ids)  # same question, same number of video tokens
    assert not torch.equal(a.video["pixel_values_videos"], b.video["pixel_values_videos"])
    completion = torch.tensor(trainer.processing_class.tokenizer("the answer is B")["input_ids"])
    ids = torch.cat([a.input_ids, completion])[None]
    keep = len(completion)
    with_a, again_a, with_b = logps(trainer, [a], ids, keep), logps(trainer, [a], ids, keep), logps(trainer, [b], ids, keep)
    assert torch.equal(with_a, again_a)
    assert (with_a - with_b).abs().max() > 1e-6
    # TRL's own path (no video tensors) cannot tell the two videos apart.
    without = logps(trainer, None, ids, keep)
    assert not torch.allclose(without, with_a)


def test_partly_missing_rewards_exclude_the_completion(trainer):
    """A judge failure (None) on one completion of a group masks that completion, not scores it 0."""
    def flaky(completions, **kwargs):
        return [None if "MASK" in c else 1.0 for c in completions]

    def accuracy(completions, **kwargs):
        return [0.5] * len(completions)

    saved = trainer.reward_funcs, trainer.reward_func_names, trainer.reward_processing_classes, trainer.reward_weights
    trainer.reward_funcs, trainer.reward_func_names = [accuracy, flaky], ["accuracy", "flaky"]
    trainer.reward_processing_classes, trainer.reward_weights = [None, None], torch.ones(2)
    try:
        rows = [{"id": "a"}] * 4
        completions = ["ok", "MASK", "MASK", "MASK"]  # group 1: partial; group 2: flaky never scores
        rewards = trainer._calculate_rewards(rows, ["p"] * 4, completions, [[1]] * 4)
    finally:
        (trainer.reward_funcs, trainer.reward_func_names, trainer.reward_processing_classes,
         trainer.reward_weights) = saved
    assert rewards[0].tolist() == [0.5, 1.0]
    assert torch.isnan(rewards[1]).all()  # masked: no reward at all
    assert rewards[2, 0] == 0.5 and torch.isnan(rewards[2, 1])  # constant in its group: left to TRL
    assert trainer._metrics["train"]["rewards/masked_completions"][-1] == 1.0


def test_recipe_rewards_follow_the_weights():
    from vr2.errors import Vr2Error
    from vr2.train.trl_backend import recipe_rewards

    funcs, weights = recipe_rewards(load_recipe(REPO / "recipes" / "grpo.toml"))
    assert [f.__name__ for f in funcs] == ["accuracy", "format"] and weights == [1.0, 1.0]
    funcs, weights = recipe_rewards(load_recipe(REPO / "recipes" / "tar_gated.toml", ["rewards.tar=0.5"]))
    assert [f.__name__ for f in funcs] == ["accuracy", "format", "tar"] and weights == [1.0, 1.0, 0.5]
    assert funcs[2].function.gate is True
    with pytest.raises(Vr2Error, match="every reward weight is 0"):
        recipe_rewards(load_recipe(None, ["rewards.accuracy=0", "rewards.format=0", "rewards.tar=0"]))


def test_paper_settings_reach_trl(trainer):
    args = trainer.args
    paper = load_recipe(REPO / "recipes" / "tar_gated.toml")
    assert (paper.grpo.num_generations, paper.grpo.beta, paper.trainer.learning_rate) == (8, 0.04, 1e-6)
    assert (paper.grpo.temperature, paper.grpo.max_completion_length) == (0.9, 1024)
    # The smoke recipe keeps the paper's beta and loss; batch = prompts x generations.
    assert args.beta == 0.04 and args.loss_type == "grpo" and args.num_generations == 2
    assert args.per_device_train_batch_size == 2 and trainer.generation_config.temperature == 0.9
    video_pad = trainer.processing_class.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert video_pad in trainer.generation_config.suppress_tokens


def grpo_command(*extra: str) -> list[str]:
    # lr 3e-4: large enough that a resume which reloaded no weights would end elsewhere.
    return [sys.executable, "-m", "vr2", "grpo", str(REPO / "recipes" / "smoke" / "grpo.toml"),
            "-s", "trainer.max_steps=6", "-s", "trainer.save_steps=3", "-s", "trainer.learning_rate=3e-4", *extra]


def step_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "steps.jsonl").read_text().splitlines()]


def per_step(run: Path, key: str) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row[key] for row in rows if key in row and "train_runtime" not in row}


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "final" / "model.safetensors"))


def test_resume_after_sigkill_repeats_and_skips_no_step(smoke_dir, capsys):
    """Kill a run (SIGKILL) right after its step-3 checkpoint; `--resume` must end exactly like a
    run that was never interrupted: steps 1..6 once each (across the epoch boundary after step 4,
    same shuffle), same samples, same rewards and losses, and the same weights. The smoke model's
    rewards vary within groups, so the weights really move and a resume that reloaded none would
    end elsewhere."""
    from cli_helpers import run_vr2

    root = smoke_dir.parents[1]
    ref_dir, run_dir = root / "runs" / "smoke" / "resume_ref", root / "runs" / "smoke" / "resume"
    old = os.getcwd()
    os.chdir(root)
    try:
        result = run_vr2(capsys, *grpo_command("-s", 'trainer.output_dir="runs/smoke/resume_ref"')[3:])
    finally:
        os.chdir(old)
    assert result.code == 0, result.err
    assert max(per_step(ref_dir, "reward_std").values()) > 0  # varying rewards ...
    assert max(per_step(ref_dir, "grad_norm").values()) > 0  # ... that train

    env = {**os.environ, "VR2_PLUGINS": "none"}
    victim = subprocess.Popen(grpo_command("-s", 'trainer.output_dir="runs/smoke/resume"'), cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = run_dir / "checkpoint-3" / "vr2_checkpoint.json"
    deadline = time.monotonic() + 180
    while not marker.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    _, err = victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL, err.decode()[-2000:]
    killed_at = max(row["step"] for row in step_log(run_dir))
    assert killed_at < 6  # it really was cut short

    resumed = subprocess.run(grpo_command("-s", 'trainer.output_dir="runs/smoke/resume"', "--resume"), cwd=root,
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr and "checkpoint-3" in resumed.stderr

    assert [row["step"] for row in step_log(run_dir)] == [1, 2, 3, 4, 5, 6]
    assert step_log(run_dir) == step_log(ref_dir)
    for key in ("reward", "loss", "completions/mean_length"):
        assert per_step(run_dir, key) == pytest.approx(per_step(ref_dir, key), abs=1e-5), key
    state = json.loads((run_dir / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    ours, ref = final_weights(run_dir), final_weights(ref_dir)
    start = final_weights_from(smoke_dir / "model")
    assert set(ours) == set(ref)
    assert max((ours[k] - ref[k]).abs().max().item() for k in ref) < 1e-5
    assert any(not torch.equal(ref[k], start[k]) for k in ref)  # the run moved the weights


def final_weights_from(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_resume_refuses_a_checkpoint_without_the_trainable_weights(tmp_path, tiny_model_dir):
    from safetensors.torch import save_file

    from vr2.train.checkpoints import load_checkpoint_weights
    from vr2.errors import Vr2Error
    from vr2.model.runtime import load_model

    model = load_model(str(tiny_model_dir), dtype="float32", device="cpu").model
    bad = tmp_path / "checkpoint-2"
    bad.mkdir()
    (bad / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    save_file({"unrelated": torch.zeros(1)}, str(bad / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(Vr2Error, match="checkpoint-2: the checkpoint does not hold .* trainable tensors"):
        load_checkpoint_weights(model, bad)


def test_a_saved_checkpoint_loads_back_exactly(tmp_path, tiny_model_dir):
    """transformers saves legacy key names; the resume path renames them and loads every tensor."""
    from vr2.train.checkpoints import load_checkpoint_weights
    from vr2.model.runtime import load_model

    trained = load_model(str(tiny_model_dir), dtype="float32", device="cpu").model
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.01)
    trained.save_pretrained(tmp_path / "checkpoint-1")
    fresh = load_model(str(tiny_model_dir), dtype="float32", device="cpu").model
    assert len(load_checkpoint_weights(fresh, tmp_path / "checkpoint-1")) == len(list(fresh.parameters()))
    for (name, a), (_, b) in zip(trained.named_parameters(), fresh.named_parameters()):
        assert torch.equal(a, b), name


def test_lora_checkpoint_loads_back_exactly(tmp_path, tiny_model_dir):
    from peft import get_peft_model

    from vr2.train.checkpoints import load_checkpoint_weights
    from vr2.train.finetune import lora_config
    from vr2.model.runtime import load_model

    recipe = load_recipe(REPO / "recipes" / "smoke" / "sft.toml")

    def lora_model():
        base = load_model(str(tiny_model_dir), dtype="float32", device="cpu").model
        return get_peft_model(base, lora_config(base, recipe))

    trained = lora_model()
    with torch.no_grad():
        for parameter in trained.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05)
    trained.save_pretrained(tmp_path / "checkpoint-1")
    fresh = lora_model()
    loaded = load_checkpoint_weights(fresh, tmp_path / "checkpoint-1")
    assert loaded and all("lora_" in name for name in loaded)
    want = {n: p for n, p in trained.named_parameters() if p.requires_grad}
    for name, parameter in fresh.named_parameters():
        if parameter.requires_grad:
            assert torch.equal(parameter, want[name]), name


def time_mentions(completions, **kwargs):
    """A learnable reward: how many times (mm:ss) the completion cites, up to 4."""
    import re

    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [min(len(re.findall(r"\d\d:\d\d", text)), 4) / 4 for text in texts]


def test_smoke_grpo_learns_a_learnable_reward(smoke_dir, tmp_path):
    """From the warm-started smoke model, rewards vary within groups and their mean rises in 10 steps."""
    from vr2.train.data import load_samples
    from vr2.train.trl_backend import build_grpo_trainer

    recipe = load_recipe(REPO / "recipes" / "smoke" / "grpo.toml", [
        f'model.name_or_path="{smoke_dir / "model"}"', f'data.train_file="{smoke_dir / "grpo.json"}"',
        f'data.video_dir="{smoke_dir / "videos"}"', f'data.subtitles_dir="{smoke_dir / "subtitles"}"',
        # lr 1e-3: under the release's prompt (no instruction to cite times) the warm model starts citing fewer
        f'trainer.output_dir="{tmp_path / "run"}"', "trainer.max_steps=10", "trainer.learning_rate=1e-3",
        "trainer.prompts_per_step=2", "grpo.num_generations=4", "trainer.completions_per_device=8",
        "grpo.beta=0.0", "trainer.save_steps=1000", 'trainer.lr_scheduler="constant"', "trainer.weight_decay=0.0"])
    trainer = build_grpo_trainer(recipe, load_samples(recipe), [time_mentions], [1.0])
    trainer.train()
    rewards = [per_step(tmp_path / "run", "reward")[step] for step in range(1, 11)]
    assert max(per_step(tmp_path / "run", "reward_std").values()) > 0
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.1, rewards


def test_a_video_that_fails_mid_run_is_skipped_counted_and_the_run_goes_on(smoke_dir, tmp_path):
    """Probed at load it looked fine; it breaks mid-run: the step trains on the next sample instead."""
    from vr2.train.checkpoints import read_log
    from vr2.train.trl_backend import build_grpo_trainer

    (tmp_path / "model").symlink_to(smoke_dir / "model")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((smoke_dir / "videos" / "clip1.mp4").read_bytes()[:200])
    chosen = samples(smoke_dir, 2)
    chosen[1].video = str(broken)
    run = tmp_path / "run"
    trainer = build_grpo_trainer(grpo_recipe(run, "trainer.max_steps=2", "trainer.prompts_per_step=2",
                                             "trainer.completions_per_device=4"),
                                 chosen, [varied_reward], [1.0])
    trainer.train()
    assert [row["samples"] for row in read_log(run / "steps.jsonl")] == [["s0"], ["s0"]]
    skipped = read_log(run / "skipped_videos.jsonl")
    assert [(row["id"], row["step"]) for row in skipped] == [("s1", 1)]
    counts = [row["data/skipped_videos"] for row in read_log(run / "metrics.jsonl") if "data/skipped_videos" in row]
    assert counts and counts[-1] == 1.0


def test_videos_decoded_in_dataloader_workers_train_the_same_steps(smoke_dir, tmp_path):
    """data.num_workers: the dataloader's workers decode (PromptEncoder.transform); same samples, same rewards."""
    from vr2.train.checkpoints import read_log
    from vr2.train.trl_backend import build_grpo_trainer

    (tmp_path / "model").symlink_to(smoke_dir / "model")
    logs = {}
    for workers in (0, 1):
        run = tmp_path / f"run{workers}"
        trainer = build_grpo_trainer(grpo_recipe(run, "trainer.max_steps=2", f"data.num_workers={workers}"),
                                     samples(smoke_dir, 2), [varied_reward], [1.0])
        trainer.train()
        logs[workers] = (read_log(run / "steps.jsonl"), per_step(run, "reward"))
    assert logs[0] == logs[1]
    assert [row["samples"] for row in logs[1][0]] and len(logs[1][0]) == 2


def test_the_worker_transform_carries_the_prompts_and_replacement_rows(trainer):
    encoder = trainer.encoder
    out = encoder.transform({"index": [0, 0, 1], "id": ["s0", "s0", "s1"]})
    direct = encoder.encode_rows([{"index": 0}, {"index": 1}])
    assert out["id"] == ["s0", "s0", "s1"] and out["video_prompt"][0] is out["video_prompt"][1]
    assert torch.equal(out["video_prompt"][2].video["pixel_values_videos"], direct[1].video["pixel_values_videos"])
    assert out["video_skipped"] == [[], [], []]
