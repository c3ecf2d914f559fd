"""Freezing switches, LoRA placement and merging an adapter into a full checkpoint."""

from __future__ import annotations

import re

import pytest
import torch

from vr2.train import finetune
from vr2.config import load_recipe
from vr2.errors import Vr2Error


def fresh(tiny_model_dir):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir)


def recipe(*overrides):
    return load_recipe(None, list(overrides))


def trainable(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("vision, merger, llm", [(True, True, False), (False, True, True), (True, False, True),
                                                 (False, False, False)])
def test_freezing_switches_choose_the_trained_parts(tiny_model_dir, vision, merger, llm):
    model = fresh(tiny_model_dir)
    config = recipe(f"model.freeze_vision={str(vision).lower()}", f"model.freeze_merger={str(merger).lower()}",
                    f"model.freeze_llm={str(llm).lower()}").model
    counts = finetune.apply_freezing(model, config)
    names = trainable(model)
    assert any(n.startswith("model.visual.blocks") for n in names) == (not vision)
    assert any(n.startswith("model.visual.patch_embed") for n in names) == (not vision)
    assert any(n.startswith("model.visual.merger") for n in names) == (not merger)
    assert any(n.startswith("model.language_model") for n in names) == (not llm)
    assert ("lm_head.weight" in names) == (not llm)
    assert sum(counts.values()) == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_everything_frozen_is_an_error(tiny_model_dir):
    config = recipe("model.freeze_vision=true", "model.freeze_merger=true", "model.freeze_llm=true").model
    with pytest.raises(Vr2Error, match="nothing would train"):
        finetune.apply_freezing(fresh(tiny_model_dir), config)


def test_lora_stays_out_of_a_frozen_vision_tower(tiny_model_dir):
    model = fresh(tiny_model_dir)
    targets = ["q_proj", "gate_proj", "down_proj"]
    frozen = finetune.lora_target_pattern(model, recipe().model, targets)
    matched = [n for n, _ in model.named_modules() if re.fullmatch(frozen, n)]
    assert matched and all(n.startswith("model.language_model.layers") for n in matched)
    assert len(matched) == 2 * len(targets)  # two layers
    # The vision blocks have gate_proj/down_proj too: unfrozen, they get adapters as well.
    open_vision = finetune.lora_target_pattern(model, recipe("model.freeze_vision=false").model, targets)
    matched = [n for n, _ in model.named_modules() if re.fullmatch(open_vision, n)]
    assert any(n.startswith("model.visual.blocks") for n in matched)


def test_lora_targets_that_do_not_exist_are_named(tiny_model_dir):
    with pytest.raises(Vr2Error, match="lora.target_modules: none of qkv_fused"):
        finetune.lora_target_pattern(fresh(tiny_model_dir), recipe().model, ["qkv_fused"])


def test_lora_config_takes_the_recipe_values(tiny_model_dir):
    config = finetune.lora_config(fresh(tiny_model_dir), recipe("lora.r=16", "lora.alpha=32", "lora.dropout=0.1"))
    assert (config.r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.1)


def test_merged_checkpoint_computes_what_the_adapter_did(tiny_model_dir, tmp_path):
    from peft import get_peft_model

    model = fresh(tiny_model_dir)
    peft_model = get_peft_model(model, finetune.lora_config(model, recipe("lora.r=4", "lora.alpha=8")))
    with torch.no_grad():  # LoRA B starts at zero; make the adapter do something
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(len(name)))
    peft_model.save_pretrained(tmp_path / "adapter")
    assert finetune.is_adapter(tmp_path / "adapter")
    merged_dir = finetune.merge_adapter(str(tiny_model_dir), tmp_path / "adapter", tmp_path / "merged")
    merged = fresh(merged_dir)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    peft_model.eval()
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        plain = fresh(tiny_model_dir)(input_ids=ids).logits
        got = merged(input_ids=ids).logits
    assert not torch.allclose(expected, plain, atol=1e-4)
    assert torch.allclose(got, expected, atol=1e-4)
    assert (merged_dir / "tokenizer.json").is_file() and not finetune.is_adapter(merged_dir)


def test_merging_without_an_adapter_is_named(tiny_model_dir, tmp_path):
    with pytest.raises(Vr2Error, match="no LoRA adapter here"):
        finetune.merge_adapter(str(tiny_model_dir), tmp_path, tmp_path / "merged")
