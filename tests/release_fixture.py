"""A Video-R2 release task folder in the fork's layout (task YAML + utils.py), written with vr2's own
placeholder words, so the `paper` protocol's prompt reading and assembly can be tested anywhere."""

from __future__ import annotations

from pathlib import Path

import yaml

THINK = "<<reason, then answer in tags>>"
POST = "\n" + THINK

_YAML = {
    "mvbench_think/mvbench_action_sequence.yaml": {"post_prompt": POST},
    "mvbench_think/mvbench_action_count.yaml": {"post_prompt": POST},
    "videomme_think/videomme.yaml": {"pre_prompt": "", "post_prompt": POST},
    "tempcompass_complete_think/tempcompass_complete.yaml": {"pre_prompt": "",
                                                             "post_prompt": "\n<<letter only>> " + POST},
    "mlvu_think/mlvu_dev.yaml": {"pre_prompt": "", "post_prompt": POST},
    "longvideobench_think/longvideobench_val_v.yaml": {"pre_prompt": "", "post_prompt": POST},
    "videomathqa_think/videomathqa_mcq.yaml": {"pre_prompt": "", "post_prompt": POST},
    "minverva_think/minerva.yaml": {"pre_prompt": "", "post_prompt": POST},
    "vsibench_think/vsibench.yaml": {"pre_prompt": "", "mca_post_prompt": POST,
                                     "na_post_prompt": "<<short phrase>>" + POST},
    "scivideobench_think/scivideobench.yaml": {"pre_prompt": "", "post_prompt": "\n<<letter>>" + POST},
}
# Video-MMMU keeps its words in a shared template that each track's file includes.
_MMMU_TEMPLATE = {"pre_prompt": "<<learn, then apply to>> ", "post_prompt": POST,
                  "perception_and_comprehension_prompt": "\n<<ignore the quiz>>",
                  "mcq_prompt": "<<this choice question>>", "open_ended_prompt": "<<this open question>>"}

_HEADED = '''import string


def {name}_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    if len(doc["options"]) == 2:
        option_prompt = "<<head, two letters>>"
    else:
        option_prompt = "<<head, five letters>>"
    return option_prompt + "\\n" + doc["question"]
'''

_UTILS = {
    "videomme_think/utils.py": '''def videomme_doc_to_visual(doc):
    option_prompt = "not this one"
    return option_prompt


def videomme_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    option_prompt = "<<head, four letters>>"
    return option_prompt + "\\n" + doc["question"]
''',
    "videomathqa_think/utils.py": _HEADED.format(name="videomathqa"),
    "minverva_think/utils.py": _HEADED.format(name="minerva"),
    "mmvu_think/utils.py": '''multiple_choice_prompt = """
Q:{question}
A: {a}
B: {b}
C: {c}
D: {d}
E: {e}
<<mmvu tail>>
"""

open_ended_prompt = """
Q:{question}
<<mmvu open tail>>
"""
''',
    "vsibench_think/utils.py": '''def vsibench_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    pre_prompt = lmms_eval_specific_kwargs.get("pre_prompt", "") or "<<frames>>"
    return pre_prompt + doc["question"]
''',
}


# The release's VSIBench post-processing script: two prompt builders that return f-strings (vr2
# reads them as templates), in the layout of the real script, with placeholder words.
POST_SCRIPT = '''import json


def build_prompt_na_to_float(question, prediction_text):
    ctx = question or ""
    return (
        "<<one number as JSON {\\"value\\": n}>>\\n"
        f"<<question>> {ctx}\\n"
        f"<<answer>> {prediction_text}\\n"
    )


def build_prompt_mca_letter(question, options, prediction_text):
    return (
        "<<one letter as JSON {\\"letter\\": x}>>\\n"
        f"<<question>> {question}\\n"
        f"<<options>>\\n{chr(10).join(options or [])}\\n"
        f"<<answer>> {prediction_text}\\n"
    )
'''


def task_yaml(kwargs: dict, **keys) -> str:
    """A task file as the fork writes it: `!function` tags, then the per-model prompt kwargs."""
    head = "".join(f"{k}: {v}\n" for k, v in keys.items())
    return (head + "doc_to_visual: !function utils.doc_to_visual\ndoc_to_text: !function utils.doc_to_text\n"
            # Non-ASCII escaped: PyYAML writes a NEL (U+0085) literally into a single-quoted scalar,
            # where YAML folds it to a space, so allow_unicode=True does not read back exactly.
            + yaml.safe_dump({"lmms_eval_specific_kwargs": {"default": kwargs, "other_model": {"post_prompt": "x"}}}))


def write_release(root: Path) -> Path:
    """The task folder (`<Video-R2>/eval/lmms-eval/lmms_eval/tasks`) under `root`."""
    tasks = Path(root) / "eval" / "lmms-eval" / "lmms_eval" / "tasks"
    for file, kwargs in _YAML.items():
        path = tasks / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(task_yaml(kwargs, task=path.stem + "_think"), encoding="utf-8")
    mmmu = tasks / "videommmu_think"
    mmmu.mkdir(parents=True, exist_ok=True)
    (mmmu / "_default_template_yaml").write_text(task_yaml(_MMMU_TEMPLATE), encoding="utf-8")
    for track in ("adaptation", "perception", "comprehension"):
        (mmmu / f"{track}.yaml").write_text(f"task: video_mmmu_{track}_think\n"
                                            f"doc_to_text: !function utils.videommmu_doc_to_text_{track}\n"
                                            "include: _default_template_yaml\n", encoding="utf-8")
    for file, source in _UTILS.items():
        (tasks / file).parent.mkdir(parents=True, exist_ok=True)
        (tasks / file).write_text(source, encoding="utf-8")
    script = Path(root) / "eval" / "scripts" / "post_processing" / "post_process_vsibench_predictions.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(POST_SCRIPT, encoding="utf-8")
    return tasks
