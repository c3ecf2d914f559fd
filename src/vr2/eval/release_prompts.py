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

`post_processing_prompts` reads, the same way, the two LLM prompts of the release's VSIBench
post-processing script (`<Video-R2>/eval/scripts/post_processing/`), for the official VSIBench
figure (`vr2.eval.official.vsibench_post`).

The folder is the user's, so nothing in it is trusted: only regular files inside it are read
(a FIFO or device is refused, a symlink or `include:` that leaves the folder is refused), each
at most `MAX_TASK_FILE_BYTES`; nesting deeper than `MAX_NESTING` in YAML (including an alias
that contains itself) or Python is a one-line error; no code in it is run.
"""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vr2.errors import Vr2Error
from vr2.eval.official import PostPrompts
from vr2.files import read_text

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
# A task YAML or utils.py is a few KB; a larger file is not one (and /dev/zero never ends).
MAX_TASK_FILE_BYTES = 1024 * 1024
MAX_NESTING = 64
# The post-processing script, relative to the release checkout (the task folder is 3 levels down).
POST_SCRIPT = "scripts/post_processing/post_process_vsibench_predictions.py"
# Its two prompt builders and the slots their f-strings fill (expression -> slot name).
_POST_BUILDERS = {"number": "build_prompt_na_to_float", "letter": "build_prompt_mca_letter"}
_POST_SLOTS = {"ctx": "question", "question": "question", "prediction_text": "prediction",
               "chr(10).join(options or [])": "options"}


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


def _task_file(root: Path, file: str) -> str:
    """The text of a file inside the task folder: a regular file, inside the folder once every
    symlink is followed, at most MAX_TASK_FILE_BYTES. Anything else is a one-line error."""
    path = root / file
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        raise _missing(root, file, "leaves the task folder (a symlink or include pointing outside)")
    if not path.exists() and not path.is_symlink():
        raise _missing(root, file, "missing")
    try:
        return read_text(path, "task file", max_bytes=MAX_TASK_FILE_BYTES)
    except Vr2Error as err:
        raise Vr2Error(f"eval.release_tasks: {err}; {HINT}") from None


def _read_yaml(root: Path, file: str, depth: int = 0) -> dict:
    import yaml

    text = _task_file(root, file)
    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except yaml.YAMLError as err:
        raise _missing(root, file, f"unreadable ({type(err).__name__})") from None
    except RecursionError:
        raise _missing(root, file, f"nested more than {MAX_NESTING} levels deep") from None
    if not isinstance(data, dict):
        raise _missing(root, file, "not a task mapping")
    include = data.get("include")
    if isinstance(include, str):
        if depth >= 4:
            raise _missing(root, file, "includes nest more than 4 files deep")
        # lmms-eval merges the included template under the task's own keys.
        base = _read_yaml(root, str(Path(file).parent / include), depth + 1)
        data = _merge(base, data, root, file)
    return data


def _merge(base: dict, over: dict, root: Path, file: str, depth: int = 0) -> dict:
    if depth > MAX_NESTING:  # also a mapping that contains itself through an alias
        raise _missing(root, file, f"nested more than {MAX_NESTING} levels deep")
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value, root, file, depth + 1)
        else:
            merged[key] = value
    return merged


def _from_yaml(root: Path, file: str, key: str, name: str) -> Piece:
    default = (_read_yaml(root, file).get("lmms_eval_specific_kwargs") or {}).get("default") or {}
    text = default.get(key) if isinstance(default, dict) else None
    if not isinstance(text, str) or (not text and name not in _MAY_BE_EMPTY):
        raise _missing(root, file, f"no text at lmms_eval_specific_kwargs.default.{key}")
    return Piece(text, file, f"lmms_eval_specific_kwargs.default.{key}")


# --------------------------------------------------------------------------- Python


def _parse_python(root: Path, file: str) -> ast.Module:
    text = _task_file(root, file)
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError) as err:
        raise _missing(root, file, f"unreadable ({type(err).__name__})") from None
    except (RecursionError, MemoryError):  # deeply nested expressions
        raise _missing(root, file, f"nested more than {MAX_NESTING} levels deep") from None


def _from_python(root: Path, file: str, function: str | None, variable: str, index: int) -> Piece:
    tree = _parse_python(root, file)
    scope = tree if function is None else _function(tree, function)
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


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    """The first function of that name anywhere in the module, or None."""
    return next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _strings(value: ast.expr) -> list[str]:
    """The string literals an assignment may produce: `"..."` or the fallbacks of `x or "..."`."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        return [v.value for v in value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


# --------------------------------------------------------------------------- VSIBench post-processing


def post_processing_prompts(recipe) -> PostPrompts | None:
    """The VSIBench post-processing script's two LLM prompts as templates, read from the
    release checkout that holds the configured task folder; None when no task folder is
    configured. A checkout without the script, or a script whose prompts cannot be read, is a
    one-line error."""
    folder = tasks_dir(recipe)
    if not folder:
        return None
    return _post_prompts(str(Path(folder).expanduser().resolve()))


@lru_cache(maxsize=4)
def _post_prompts(folder: str) -> PostPrompts:
    tasks = Path(folder)
    if len(tasks.parents) < 3:
        raise Vr2Error(f"eval.release_tasks: {tasks} is not <Video-R2>/eval/lmms-eval/lmms_eval/tasks, so the "
                       f"VSIBench post-processing script cannot be found beside it; {HINT}")
    root = tasks.parents[2]  # <Video-R2>/eval from <Video-R2>/eval/lmms-eval/lmms_eval/tasks
    tree = _parse_python(root, POST_SCRIPT)
    templates = {name: _returned_template(root, tree, function) for name, function in _POST_BUILDERS.items()}
    digest = hashlib.sha256("".join(templates.values()).encode("utf-8")).hexdigest()[:16]
    return PostPrompts(number=templates["number"], letter=templates["letter"],
                       source=f"eval/{POST_SCRIPT} (sha256 {digest})")


def _returned_template(root: Path, tree: ast.Module, function: str) -> str:
    """The string a prompt builder returns, as a str.format template: its f-string slots become
    {question}, {prediction}, {options}; literal braces are doubled."""
    node = _function(tree, function)
    returned = next((n.value for n in ast.walk(node) if isinstance(n, ast.Return)), None) if node else None
    if returned is None:
        raise _missing(root, POST_SCRIPT, f"no string returned by {function}()")
    parts = returned.values if isinstance(returned, ast.JoinedStr) else [returned]
    out = []
    for part in parts:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            out.append(part.value.replace("{", "{{").replace("}", "}}"))
        elif isinstance(part, ast.FormattedValue) and ast.unparse(part.value) in _POST_SLOTS \
                and part.conversion == -1 and part.format_spec is None:
            out.append("{" + _POST_SLOTS[ast.unparse(part.value)] + "}")
        else:
            raise _missing(root, POST_SCRIPT, f"{function}() builds its prompt from something vr2 cannot fill")
    return "".join(out)
