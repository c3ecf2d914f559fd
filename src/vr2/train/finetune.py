"""What a training stage may change: the freezing switches, LoRA adapters and merging them back.

A Qwen2.5-VL has three parts a recipe can freeze on its own: the vision tower (patch embedding and
transformer blocks), the merger (the MLP that maps vision features into the language model's
space) and the language model (with its embeddings and output head). The paper trains the language
model only, through LoRA in SFT (r=64, alpha=64, dropout 0.05) and fully in GRPO.

With LoRA, adapters go on the recipe's `target_modules` inside the unfrozen parts only. The names
matter: Qwen2.5-VL's vision blocks also have `gate_proj`/`up_proj`/`down_proj`, so a plain name
list would silently put adapters on a vision tower the recipe froze.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vr2.errors import Vr2Error, first_line
from vr2.model.runtime import resolve_dtype

PARTS = ("vision", "merger", "llm")


def model_parts(model: Any) -> dict[str, list[tuple[str, Any]]]:
    """(qualified name, module) of each part of a Qwen2.5-VL-style model."""
    inner = getattr(model, "model", None)
    visual = getattr(inner, "visual", None)
    language = getattr(inner, "language_model", None)
    if visual is None or language is None or not hasattr(visual, "merger"):
        raise Vr2Error(
            f"model: {type(model).__name__} has no model.visual / model.visual.merger / model.language_model; "
            "the freezing switches and LoRA placement need a Qwen2.5-VL-style model"
        )
    vision = [(f"model.visual.{name}", module) for name, module in visual.named_children() if name != "merger"]
    llm = [("model.language_model", language)]
    if getattr(model, "lm_head", None) is not None:
        llm.append(("lm_head", model.lm_head))
    return {"vision": vision, "merger": [("model.visual.merger", visual.merger)], "llm": llm}


def trained_parts(model_config) -> list[str]:
    """The parts a recipe's [model] section leaves trainable; all frozen is an error."""
    frozen = {"vision": model_config.freeze_vision, "merger": model_config.freeze_merger,
              "llm": model_config.freeze_llm}
    parts = [part for part in PARTS if not frozen[part]]
    if not parts:
        raise Vr2Error("model: freeze_vision, freeze_merger and freeze_llm are all true; nothing would train")
    return parts


def apply_freezing(model: Any, model_config) -> dict[str, int]:
    """Set requires_grad per part (full fine-tuning); returns trainable parameter counts per part."""
    keep = set(trained_parts(model_config))
    counts = {}
    for part, modules in model_parts(model).items():
        total = 0
        for _, module in modules:
            for parameter in module.parameters():
                parameter.requires_grad_(part in keep)
                total += parameter.numel() if part in keep else 0
        counts[part] = total
    return counts


def lora_target_pattern(model: Any, model_config, target_modules: list[str]) -> str:
    """A regex (PEFT full-match) for the target modules inside the unfrozen parts."""
    if not target_modules:
        raise Vr2Error("lora.target_modules: empty; name the linear layers to adapt, e.g. ['q_proj', 'v_proj']")
    keep = set(trained_parts(model_config))
    prefixes = [name for part, modules in model_parts(model).items() if part in keep for name, _ in modules]
    pattern = (r"^(?:" + "|".join(re.escape(p) for p in prefixes) + r")(?:\..+)?\.(?:"
               + "|".join(re.escape(t) for t in target_modules) + r")$")
    names = [name for name, _ in model.named_modules() if re.fullmatch(pattern, name)]
    if not names:
        raise Vr2Error(
            f"lora.target_modules: none of {', '.join(target_modules)} exists in the trainable parts "
            f"({', '.join(sorted(keep))}) of the model"
        )
    return pattern


def lora_config(model: Any, recipe) -> Any:
    """A peft LoraConfig from the recipe's [lora] section, placed by the freezing switches."""
    from peft import LoraConfig

    lora = recipe.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_target_pattern(model, recipe.model, list(lora.target_modules)),
        task_type="CAUSAL_LM",
    )


def is_adapter(folder: str | Path) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def merge_adapter(base: str, adapter: str | Path, out: str | Path, dtype: str = "auto") -> Path:
    """Load the base model, merge the LoRA adapter into it and save a full checkpoint (+ processor)."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    adapter, out = Path(adapter), Path(out)
    if not is_adapter(adapter):
        raise Vr2Error(f"{adapter}: no LoRA adapter here (expected adapter_config.json)")
    torch_dtype = resolve_dtype(dtype, "cpu") if dtype != "auto" else "auto"
    try:
        model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise Vr2Error(f"{base}: could not load the base model to merge into ({first_line(exc)})") from exc
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    processor_from = adapter if (adapter / "preprocessor_config.json").is_file() else Path(base)
    AutoProcessor.from_pretrained(str(processor_from)).save_pretrained(out)
    return out
