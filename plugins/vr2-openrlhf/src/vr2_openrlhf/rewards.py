"""vr2's rewards in OpenRLHF's reward-file form: `reward_func(queries, prompts, labels)`.

OpenRLHF calls a reward file once per completion, from several threads of a vLLM actor, with
the decoded prompt + completion (`queries`), the prompt text and the label text; it expects
`{"rewards", "scores", "extra_logs"}` and swallows any exception. This module computes the reward
with vr2's own functions, the ones `vr2 score` and the TRL backend call (`vr2.reward_functions`, the
reward registry: accuracy, format, TAR gated by think-answer consistency, and any plugin's reward,
with the recipe's `[rewards]` weights by name, TAR settings and plugins), and keeps the reasons a part is missing visible.

Missing parts (documented policy):
- A sample without `temporal_grounding` has no TAR for any of its completions. Its TAR part is
  taken as 0 for the whole group; a constant inside a group changes no GRPO advantage, so this
  is the same as leaving TAR out for that prompt. Counted as `vr2/tar_no_reference`.
- A completion whose TAR could not be computed (a remote claim extractor or consistency judge
  failed) is *masked*: `vr2/masked` = 1 and `vr2/tar_masked` = 1. Called on its own, `reward_func`
  then returns the sum of the parts that exist; vr2's rollout (agent.py) replaces that with the
  group-neutral value (the mean reward of the group's unmasked completions), so a failure never
  turns into a fake reward (`vr2_openrlhf.rollout.GroupFill`).
`extra_logs` always has the same keys in a run (OpenRLHF stacks them across samples): the raw
parts (`vr2/<reward name>` for each weighted reward, 0 where missing), the gate, the claim count,
the ungated precision and the mask counters.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vr2 import Vr2Error

ASSISTANT_OPENER = "<|im_start|>assistant\n"
END_OF_TURN = ("<|im_end|>", "<|endoftext|>")
_SPECIAL = re.compile(r"<\|[a-z_]+\|>")


def completion_from_query(query: str, prompt: str) -> str:
    """The completion text inside an OpenRLHF query (prompt + completion, special tokens kept).

    What TRL scores is the completion decoded without special tokens; so the text after the
    prompt (or after the prompt's assistant opener, when OpenRLHF decoded the prompt with the
    video expanded) up to the end of the turn, with special-token text removed.
    """
    if not isinstance(query, str):
        raise Vr2Error(f"reward: query must be text, got {type(query).__name__}")
    if prompt and query.startswith(prompt):
        text = query[len(prompt):]
    elif ASSISTANT_OPENER in query:
        text = query.split(ASSISTANT_OPENER, 1)[1]
    else:
        raise Vr2Error("reward: the query holds neither the prompt nor an assistant turn")
    for marker in END_OF_TURN:
        text = text.split(marker, 1)[0]
    return _SPECIAL.sub("", text)


@dataclass
class Scored:
    """One completion's reward and everything behind it."""

    total: float | None  # None = masked (a part could not be computed)
    parts: dict[str, float | None]
    no_reference: bool = False
    tar_masked: bool = False
    detail: Any = None  # vr2.scoring.rewards.TarDetail when TAR is used
    logs: dict[str, float] = field(default_factory=dict)

    @property
    def masked(self) -> bool:
        return self.total is None

    def standalone_reward(self) -> float:
        """The reward `reward_func` returns: the total, or the parts that exist when masked."""
        if self.total is not None:
            return self.total
        return float(self.logs.get("vr2/present_total", 0.0))


class RewardComputer:
    """The recipe's reward functions and weights, applied to (completion, label) pairs."""

    def __init__(self, recipe):
        from vr2 import TarReward, reward_functions, reward_weights

        self.functions = reward_functions(recipe)  # name -> function, from vr2's reward registry
        if not self.functions:
            raise Vr2Error(f"{recipe.source}: every reward weight is 0; nothing to learn (weight one in [rewards])")
        self.weights = reward_weights(recipe)
        # TAR's evidence (gate, claims, masks) is logged too: found by type, whatever its name.
        self.tar_name = next((n for n, f in self.functions.items() if isinstance(f, TarReward)), None)
        self.tar: TarReward | None = self.functions.get(self.tar_name) if self.tar_name else None
        self._lock = threading.Lock()  # OpenRLHF calls from several threads; the TAR caches are shared

    def columns(self, labels: Sequence[dict]) -> dict[str, list]:
        """The dataset columns vr2's reward functions read, from decoded labels."""
        return {
            "answer": [label.get("answer") for label in labels],
            "answer_type": [label.get("answer_type") for label in labels],
            "options": [list(label.get("options") or []) for label in labels],
            "temporal_grounding": [label.get("temporal_grounding") for label in labels],
        }

    def score(self, completions: Sequence[str], labels: Sequence[dict]) -> list[Scored]:
        from vr2 import total_reward

        columns = self.columns(labels)
        with self._lock:
            parts = {name: list(fn(list(completions), **columns)) for name, fn in self.functions.items()
                     if name != self.tar_name}
            details = self.tar.details(list(completions), **columns) if self.tar is not None else None
        if details is not None:
            parts[self.tar_name] = [d.value for d in details]
        parts = {name: parts[name] for name in self.functions}  # the recipe's order
        scored = []
        for k in range(len(completions)):
            mine = {name: values[k] for name, values in parts.items()}
            detail = details[k] if details is not None else None
            no_reference = detail is not None and detail.value is None and detail.failure == "no reference grounding"
            if no_reference:
                mine[self.tar_name] = 0.0  # group-constant: no effect on the group's advantages
            total = total_reward({n: [v] for n, v in mine.items()}, self.weights)[0]
            item = Scored(total, mine, no_reference, detail is not None and mine.get(self.tar_name) is None, detail)
            item.logs = self._logs(item)
            scored.append(item)
        return scored

    def _logs(self, item: Scored) -> dict[str, float]:
        logs = {f"vr2/{name}": float(item.parts[name] or 0.0) for name in self.weights}
        present = sum(self.weights[n] * v for n, v in item.parts.items() if v is not None)
        logs["vr2/present_total"] = float(present)
        logs["vr2/masked"] = float(item.masked)
        if self.tar is not None:
            detail = item.detail
            result = detail.result if detail is not None else None
            logs["vr2/tar_gate"] = float(detail is not None and detail.gate == 1)
            logs["vr2/tar_claims"] = float(len(result.pred_claims)) if result is not None else 0.0
            logs["vr2/tar_precision"] = float(result.precision) if result is not None else 0.0
            logs["vr2/tar_no_reference"] = float(item.no_reference)
            logs["vr2/tar_masked"] = float(item.tar_masked)
        return logs

    def openrlhf_result(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str]) -> dict:
        """OpenRLHF's reward-file answer for a batch (it sends one completion at a time)."""
        import torch

        from vr2_openrlhf.data import decode_label

        if not (len(queries) == len(prompts) == len(labels)):
            raise Vr2Error(f"reward: {len(queries)} queries, {len(prompts)} prompts, {len(labels)} labels")
        completions = [completion_from_query(q, p) for q, p in zip(queries, prompts)]
        scored = self.score(completions, [decode_label(label) for label in labels])
        rewards = torch.tensor([s.standalone_reward() for s in scored], dtype=torch.float32)
        keys = list(scored[0].logs) if scored else []
        logs = {key: torch.tensor([s.logs[key] for s in scored], dtype=torch.float32) for key in keys}
        return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": logs}


_COMPUTERS: dict[str, RewardComputer] = {}
_COMPUTERS_LOCK = threading.Lock()


def computer_for(run_file: str | Path) -> RewardComputer:
    """The RewardComputer of a prepared run (`run.json` names the resolved recipe); built once."""
    key = str(Path(run_file).resolve())
    with _COMPUTERS_LOCK:
        if key not in _COMPUTERS:
            from vr2 import load_recipe

            run = read_run(key)
            _COMPUTERS[key] = RewardComputer(load_recipe(run["recipe"]))
        return _COMPUTERS[key]


def read_run(path: str | Path) -> dict[str, Any]:
    """A run's `run.json` (written by the backend next to reward.py and agent.py)."""
    from vr2 import read_text

    try:
        run = json.loads(read_text(Path(path), "run file"))
    except json.JSONDecodeError as exc:
        raise Vr2Error(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(run, dict) or run.get("format") != "vr2-openrlhf-run/2":
        raise Vr2Error(f"{path}: not a run file of this vr2-openrlhf (run the backend again to rewrite it)")
    return run


def reward_func_for(run_file: str | Path):
    """`reward_func(queries, prompts, labels, **kwargs)` bound to a prepared run."""

    def reward_func(queries, prompts, labels, **kwargs):
        return computer_for(run_file).openrlhf_result(queries, prompts, labels)

    return reward_func
