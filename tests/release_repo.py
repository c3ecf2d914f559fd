"""Where tests find a checkout of the Video-R2 release: the folder named by $VR2_RELEASE_REPO, nowhere else.

The tests that compare vr2's restatements with the release's own code skip when the variable is unset
(with that reason) and fail when it names something that is no checkout, so a misconfigured run
cannot pass by skipping. Make a checkout from a clone with `git worktree add` or `git archive`.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
from pathlib import Path
from typing import Optional, Tuple

import pytest

VARIABLE = "VR2_RELEASE_REPO"
SKIP_REASON = f"${VARIABLE} is not set (a checkout of github.com/mbzuai-oryx/Video-R2 to compare with)"


def release_repo(*parts: str) -> Path:
    """The checkout (or a path inside it); skips the test when $VR2_RELEASE_REPO is unset."""
    value = os.environ.get(VARIABLE, "")
    if not value:
        pytest.skip(SKIP_REASON)
    path = Path(value).joinpath(*parts)
    if not path.exists():
        pytest.fail(f"${VARIABLE}={value}: {path} does not exist (not a checkout of the Video-R2 release?)")
    return path


def has_release_repo() -> bool:
    return bool(os.environ.get(VARIABLE))


def compiled_definitions(path: Path, names: set[str], scope: dict) -> dict:
    """The named top-level functions and assignments of a release source file, compiled alone into `scope`
    (its imports load an OpenAI client, torch and sentence-transformers, which the compared rules never use)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [node for node in tree.body if getattr(node, "name", None) in names
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets))]
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), scope)  # noqa: S102
    return scope


def release_reward_code() -> dict:
    """The release's `accuracy_reward`, `format_reward` and the helpers they call, from
    train/src/train/reward_funcs.py and reward_utils.py of the checkout; skips without one."""
    from rouge_score import rouge_scorer

    train = release_repo("train", "src", "train")
    utils = compiled_definitions(train / "reward_utils.py",
                                 {"extract_answer", "normalize_number", "wer", "compute_rouge_score",
                                  "infer_question_type", "normalize_mcq"},
                                 {"re": re, "rouge_scorer": rouge_scorer, "Tuple": Tuple, "Optional": Optional})
    return compiled_definitions(train / "reward_funcs.py", {"accuracy_reward", "format_reward"}, dict(utils))


def quietly(function, *args):
    """Call a release function with its prints (a failed number parse prints a line) kept off the output."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)
