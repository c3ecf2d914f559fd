"""Sample logs written exactly as lmms-eval's two evaluation trackers write them, for tests of
`vr2 eval --from-samples`: the Video-R2 release's fork (doc and arguments kept, `resps` as
[[text]]) and current upstream (doc and arguments dropped, lists flattened, `resps` left out when
it equals `filtered_resps`, `<think>` stripped from `filtered_resps` by the CLI). Every line's
`target` goes through `str()`, as both trackers do."""

from __future__ import annotations

import json
import re


def _sanitize(value):
    """lmms-eval's sanitize_list: nested lists kept, every leaf turned into a string."""
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    return str(value)


def _strip_think(text: str) -> str:
    return re.sub(r"<think>.*?</think>", "", text, flags=re.S).strip()


def evaluator_example(doc_id, doc, target, prompt, raw, metrics):
    """The in-memory `example` both evaluators build for one doc with one request."""
    return {"doc_id": doc_id, "doc": doc, "target": target,
            "arguments": [prompt, {"max_new_tokens": 1024, "temperature": 0, "do_sample": False},
                          doc_id, "task", "test"],
            "raw": raw, **metrics}


def fork_line(example: dict) -> str:
    """As the release fork's EvaluationTracker.save_results_samples writes it."""
    sample = {k: v for k, v in example.items() if k != "raw"}
    sample["resps"] = [[example["raw"]]]
    sample["filtered_resps"] = [example["raw"]]
    sample["doc_hash"] = "0" * 64
    arguments = dict(enumerate(sample["arguments"][1]))  # the fork keeps the kwargs' keys only
    sample["input"] = sample["arguments"][0]
    sample["resps"] = _sanitize(sample["resps"])
    sample["filtered_resps"] = _sanitize(sample["filtered_resps"])
    sample["arguments"] = arguments
    sample["target"] = str(sample["target"])
    return json.dumps(sample, ensure_ascii=False) + "\n"


def upstream_line(example: dict) -> str:
    """As current upstream's EvaluationTracker.save_results_samples writes it, after the CLI's
    reasoning-tag stripping of filtered_resps (resps keeps the raw text)."""
    sample = {k: v for k, v in example.items() if k != "raw"}
    sample["resps"] = [example["raw"]]
    sample["filtered_resps"] = [_strip_think(example["raw"])]
    sample["input"] = sample["arguments"][0]
    sample["resps"] = _sanitize(sample["resps"])
    sample["filtered_resps"] = _sanitize(sample["filtered_resps"])
    if isinstance(sample["resps"], list) and len(sample["resps"]) == 1:
        sample["resps"] = sample["resps"][0]
    if isinstance(sample["filtered_resps"], list) and len(sample["filtered_resps"]) == 1:
        sample["filtered_resps"] = sample["filtered_resps"][0]
    if sample["resps"] == sample["filtered_resps"]:
        sample.pop("resps")
    sample["target"] = str(sample["target"])
    sample.pop("arguments")
    sample.pop("doc")
    return json.dumps(sample, ensure_ascii=False) + "\n"


WRITERS = {"fork": (fork_line, "_think"), "upstream": (upstream_line, "")}


def write_logs(folder, writer: str, examples: dict[str, list[dict]], *, bom: bool = False) -> None:
    line, suffix = WRITERS[writer]
    model_dir = folder / "qwen2_5_vl"  # the tracker writes under the sanitized model name
    model_dir.mkdir(parents=True, exist_ok=True)
    for task, items in examples.items():
        name = f"{task}{suffix}"
        text = "".join(line(json.loads(json.dumps(e))) for e in items)
        data = text.encode("utf-8")
        (model_dir / f"{name}_samples_{name}.jsonl").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
