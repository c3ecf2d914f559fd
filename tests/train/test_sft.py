"""SFT on videos: LoRA where the recipe allows it, the video in the loss, merging the adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.samples import Sample

REPO = Path(__file__).resolve().parents[2]
REPLY = "<think>At 00:00:01 the background is green.</think><answer>B</answer>"


def samples(smoke_dir, n=2):
    return [Sample(id=f"s{k}", video=str(smoke_dir / "videos" / f"clip{k}.mp4"),
                   question="What colour is the background at 00:00:01?", options=["red", "green"])
            for k in range(n)]


def sft_recipe(smoke_dir, out, *overrides):
    return load_recipe(REPO / "recipes" / "smoke" / "sft.toml", [
        f"model.name_or_path={json.dumps(str(smoke_dir / 'model'))}",
        f"trainer.output_dir={json.dumps(str(out))}", "trainer.warmup_ratio=0.0",
        "trainer.weight_decay=0.0", "trainer.learning_rate=1e-3", *overrides])


def params(model, word) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if word in n}


def changed(before, model) -> set[str]:
    after = dict(model.named_parameters())
    return {n for n, value in before.items() if not torch.equal(value, after[n].detach())}


def test_lora_sft_trains_adapters_only_and_merges(smoke_dir, tmp_path):
    from vr2.train.finetune import is_adapter
    from vr2.train.trl_backend import _merge, _train, build_sft_trainer

    recipe = sft_recipe(smoke_dir, tmp_path / "run")
    trainer = build_sft_trainer(recipe, samples(smoke_dir), [REPLY, REPLY])
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    assert trainer.model.peft_config["default"].r == 8
    lora_b = params(trainer.model, "lora_B")
    base = params(trainer.model, "base_layer")
    final = _train(trainer, None, trainer.processing_class)
    assert changed(lora_b, trainer.model) == set(lora_b)
    assert not changed(base, trainer.model)
    assert is_adapter(final)
    merged = _merge(recipe, final)
    assert merged == tmp_path / "run" / "merged" and (merged / "model.safetensors").is_file()
    steps = [json.loads(line) for line in (tmp_path / "run" / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    assert sorted(sum((s["samples"] for s in steps), [])) == ["s0", "s1"]


def test_sft_loss_reaches_an_unfrozen_vision_tower(smoke_dir, tmp_path):
    from vr2.train.trl_backend import build_sft_trainer

    recipe = sft_recipe(smoke_dir, tmp_path / "run", "lora.enabled=false", "model.freeze_vision=false",
                        "model.freeze_llm=true", "trainer.max_steps=1")
    trainer = build_sft_trainer(recipe, samples(smoke_dir), [REPLY, REPLY])
    blocks = params(trainer.model, "visual.blocks")
    llm = params(trainer.model, "language_model")
    trainer.train()
    assert changed(blocks, trainer.model) == set(blocks)
    assert not changed(llm, trainer.model)


def test_merge_finds_the_adapter_of_a_run(tmp_path):
    from vr2.train.checkpoints import MARKER
    from vr2.train.sft import adapter_to_merge

    with pytest.raises(Vr2Error, match="no LoRA adapter to merge"):
        adapter_to_merge(tmp_path)
    checkpoint = tmp_path / "checkpoint-3"
    checkpoint.mkdir()
    (checkpoint / MARKER).write_text("{}")
    (checkpoint / "adapter_config.json").write_text("{}")
    assert adapter_to_merge(tmp_path) == checkpoint
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "adapter_config.json").write_text("{}")
    assert adapter_to_merge(tmp_path) == tmp_path / "final"
