"""vr2: training and auditing grounded video reasoning (Video-R2: TAR, TAC, VAS).

This module is vr2's public API: what plugins and scripts may import (``from vr2 import ...``).
Everything else is internal and may move. Names load on first use, so ``import vr2`` stays cheap.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

from vr2.errors import MissingExtra, Vr2Error
from vr2.plugins.hookspecs import hookimpl

try:  # one version source: pyproject.toml, read back from the installed metadata
    __version__ = version("vr2")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# public name -> the module that defines it
_PUBLIC = {
    "load_recipe": "vr2.config",
    "dump_toml": "vr2.config",
    "read_text": "vr2.files",
    "first_line": "vr2.errors",
    "stderr_console": "vr2.console",
    "Sample": "vr2.samples",
    "VideoSettings": "vr2.video.sampling",
    "video_settings": "vr2.video.sampling",
    "sample_video": "vr2.video.sampling",
    "LoadedModel": "vr2.model.runtime",
    "prepare_inputs": "vr2.model.runtime",
    "prompt_text": "vr2.model.runtime",
    "training_prompt": "vr2.model.prompts",
    "Output": "vr2.eval.runner",
    "TarReward": "vr2.scoring.rewards",
    "reward_functions": "vr2.scoring.rewards",
    "reward_weights": "vr2.scoring.rewards",
    "reported_rewards": "vr2.scoring.rewards",
    "total_reward": "vr2.scoring.rewards",
    "sample_frames": "vr2.train.collate",
    "load_samples": "vr2.train.data",
    "ScoreInput": "vr2.scoring.batch",
    "score_inputs": "vr2.scoring.batch",
    "deepspeed_stage_of": "vr2.train.plan",
}

__all__ = ["MissingExtra", "Vr2Error", "__version__", "hookimpl", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'vr2' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value
