"""The words of the Video-R2 release's evaluation prompts, read from the user's checkout.

The `paper` protocol must give the model exactly the sentences the release's lmms-eval fork gave
it, because the published numbers depend on them. vr2 does not ship those sentences: it reads
them at run time from the fork's task folder (`<Video-R2>/eval/lmms-eval/lmms_eval/tasks`), set
by `[eval] release_tasks`, the environment variable `VR2_RELEASE_TASKS` or `vr2 eval
--release-tasks`. Each piece is found by *where* it lives, never by its text:

- a task YAML's `lmms_eval_specific_kwargs.default.<key>` (its `include:` files merged first);
- a string assigned to a variable inside a `utils.py` function, or at a `utils.py` module's top
  level, located with the `ast` module (the fork builds some headers and templates in Python).

`load` returns every piece with the file it came from and a hash of its text, so a run records
which words it used (`run.json`, the report's protocol section). Where the words go around the
question and options stays in `vr2.eval.protocols`.
"""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vr2.errors import Vr2Error

ENV = "VR2_RELEASE_TASKS"
HINT = ("pass --release-tasks <Video-R2>/eval/lmms-eval/lmms_eval/tasks "
        "(git clone https://github.com/mbzuai-oryx/Video-R2)")


@dataclass(frozen=True)
class Piece:
    text: str
    file: str  # relative to the task folder
    where: str  # the YAML key or Python variable it was read from

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# name -> (task file, YAML key under lmms_eval_specific_kwargs.default). The task files are those
# of the `*_think` tasks that the release's eval/scripts/accuracy/run_all.sh ran.
_YAML = {
    "mvbench.post": ("mvbench_think/mvbench_action_sequence.yaml", "post_prompt"),
    "videomme.post": ("videomme_think/videomme.yaml", "post_prompt"),
    "tempcompass.post": ("tempcompass_complete_think/tempcompass_complete.yaml", "post_prompt"),
    "mlvu.pre": ("mlvu_think/mlvu_dev.yaml", "pre_prompt"),
    "mlvu.post": ("mlvu_think/mlvu_dev.yaml", "post_prompt"),
    "longvideobench.pre": ("longvideobench_think/longvideobench_val_v.yaml", "pre_prompt"),
    "longvideobench.post": ("longvideobench_think/longvideobench_val_v.yaml", "post_prompt"),
    "videomathqa.post": ("videomathqa_think/videomathqa_mcq.yaml", "post_prompt"),
    "minerva.post": ("minverva_think/minerva.yaml", "post_prompt"),
    "videommmu.pre": ("videommmu_think/adaptation.yaml", "pre_prompt"),
    "videommmu.post": ("videommmu_think/adaptation.yaml", "post_prompt"),
    "videommmu.mcq": ("videommmu_think/adaptation.yaml", "mcq_prompt"),
    "videommmu.open": ("videommmu_think/adaptation.yaml", "open_ended_prompt"),
    "videommmu.quiz": ("videommmu_think/perception.yaml", "perception_and_comprehension_prompt"),
    "vsibench.pre": ("vsibench_think/vsibench.yaml", "pre_prompt"),
    "vsibench.mca_post": ("vsibench_think/vsibench.yaml", "mca_post_prompt"),
    "vsibench.na_post": ("vsibench_think/vsibench.yaml", "na_post_prompt"),
    "scivideobench.pre": ("scivideobench_think/scivideobench.yaml", "pre_prompt"),
    "scivideobench.post": ("scivideobench_think/scivideobench.yaml", "post_prompt"),
}
# Keys the task may leave empty (the fork then adds nothing, or falls back to a utils.py default).
_MAY_BE_EMPTY = {"mlvu.pre", "longvideobench.pre", "vsibench.pre", "scivideobench.pre"}

# name -> (utils.py, function (None: module level), variable, index among its string assignments
# in source order). VideoMathQA and MINERVA assign the two-letter header in the `if` branch and
# the five-letter one in the `else`; VSI-Bench's header is the fallback of `pre_prompt = ... or "..."`.
_PYTHON = {
    "videomme.head": ("videomme_think/utils.py", "videomme_doc_to_text", "option_prompt", 0),
    "videomathqa.head2": ("videomathqa_think/utils.py", "videomathqa_doc_to_text", "option_prompt", 0),
    "videomathqa.head5": ("videomathqa_think/utils.py", "videomathqa_doc_to_text", "option_prompt", 1),
    "minerva.head2": ("minverva_think/utils.py", "minerva_doc_to_text", "option_prompt", 0),
    "minerva.head5": ("minverva_think/utils.py", "minerva_doc_to_text", "option_prompt", 1),
    "mmvu.mcq": ("mmvu_think/utils.py", None, "multiple_choice_prompt", 0),
    "mmvu.open": ("mmvu_think/utils.py", None, "open_ended_prompt", 0),
    "vsibench.default_pre": ("vsibench_think/utils.py", "vsibench_doc_to_text", "pre_prompt", 0),
}

NAMES = (*_YAML, *_PYTHON)


def tasks_dir(recipe) -> str:
    """The configured task folder: `[eval] release_tasks`, else $VR2_RELEASE_TASKS."""
    return recipe.eval.release_tasks or os.environ.get(ENV, "")


def for_recipe(recipe) -> dict[str, Piece]:
    """The release's prompt pieces for a `paper` run (read once per folder and process)."""
    folder = tasks_dir(recipe)
    if not folder:
        raise Vr2Error(f"eval.protocol 'paper' reads the release's prompts: {HINT}")
    return load(str(Path(folder).expanduser().resolve()))


@lru_cache(maxsize=8)
def load(folder: str) -> dict[str, Piece]:
    root = Path(folder)
    if not root.is_dir():
        raise Vr2Error(f"eval.release_tasks: {root} is not a folder; {HINT}")
    pieces = {name: _from_yaml(root, file, key, name) for name, (file, key) in _YAML.items()}
    pieces.update({name: _from_python(root, *spec) for name, spec in _PYTHON.items()})
    return pieces


def describe(pieces: dict[str, Piece]) -> dict[str, dict]:
    """Where each piece came from and the hash of its text, for run.json and the report."""
    return {name: {"file": p.file, "where": p.where, "sha256": p.sha256} for name, p in pieces.items()}


# --------------------------------------------------------------------------- YAML


def _missing(root: Path, file: str, what: str) -> Vr2Error:
    return Vr2Error(f"eval.release_tasks: {root / file}: {what}; {HINT}")


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """Task files tag callables (`!function utils.x`); their names are all we need."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node)
                                 if isinstance(node, yaml.ScalarNode) else None)
    return Loader


def _read_yaml(root: Path, file: str, depth: int = 0) -> dict:
    import yaml

    path = root / file
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_yaml_loader())
    except FileNotFoundError:
        raise _missing(root, file, "missing") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise _missing(root, file, f"unreadable ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise _missing(root, file, "not a task mapping")
    include = data.get("include")
    if isinstance(include, str) and depth < 4:
        # lmms-eval merges the included template under the task's own keys.
        base = _read_yaml(root, str(Path(file).parent / include), depth + 1)
        data = _merge(base, data)
    return data


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _from_yaml(root: Path, file: str, key: str, name: str) -> Piece:
    default = (_read_yaml(root, file).get("lmms_eval_specific_kwargs") or {}).get("default") or {}
    text = default.get(key) if isinstance(default, dict) else None
    if not isinstance(text, str) or (not text and name not in _MAY_BE_EMPTY):
        raise _missing(root, file, f"no text at lmms_eval_specific_kwargs.default.{key}")
    return Piece(text, file, f"lmms_eval_specific_kwargs.default.{key}")


# --------------------------------------------------------------------------- Python


def _from_python(root: Path, file: str, function: str | None, variable: str, index: int) -> Piece:
    path = root / file
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _missing(root, file, "missing") from None
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as err:
        raise _missing(root, file, f"unreadable ({type(err).__name__})") from None
    scope = tree if function is None else next(
        (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function), None)
    where = f"{function}(): {variable}" if function else variable
    if scope is None:
        raise _missing(root, file, f"no function {function}()")
    nodes = scope.body if function is None else list(ast.walk(scope))
    found = sorted((n for n in nodes if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == variable for t in n.targets)),
                   key=lambda n: (n.lineno, n.col_offset))
    texts = [text for n in found for text in _strings(n.value)]
    if len(texts) <= index:
        raise _missing(root, file, f"no string assigned to {where}")
    return Piece(texts[index], file, where if index == 0 else f"{where} (#{index + 1})")


def _strings(value: ast.expr) -> list[str]:
    """The string literals an assignment may produce: `"..."` or the fallbacks of `x or "..."`."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        return [v.value for v in value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []
