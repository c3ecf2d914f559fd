"""Training on rows in the released format: the chat text and token ids that SFT and GRPO feed the model
are those the Video-R2 release's dataset code builds (`prompt.style = "release"`, the paper recipes).

The release's rule, restated (train/src/dataset/sft_dataset.py, grpo_dataset.py, data_utils.py, constants.py):

- System message "You are a helpful assistant."; the user turn is the row's first human turn, every word of it.
- SFT: each `<video>`, with at most one newline on either side, becomes `<|vision_start|><|video_pad|>
  <|vision_end|>` where it stands; the text is `<|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n
  {human}<|im_end|>\\n<|im_start|>assistant\\n`, then the reply `{assistant turn}<|im_end|>\\n` verbatim. The
  system, the prompt (through the processor, which expands the video placeholder) and the reply are tokenized
  separately and concatenated; only the reply is supervised.
- GRPO: each `<video>` (same newlines) is removed from the human turn, the video block goes first, and TRL's
  chat template renders `[system, user: [video, text]]` with the generation prompt.

Where a checkout of the release is at $VR2_RELEASE_REPO, its own dataset classes build the same rows and are
compared too (skipped when the variable is unset).
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import types
from pathlib import Path

import pytest
import torch
from release_repo import release_repo

from vr2.config import load_recipe
from vr2.data.datasets import load_dataset_file
from vr2.model import prompts
from vr2.model.runtime import LoadedModel, _video_kwargs, prompt_text
from vr2.train import collate
from vr2.train.data import grpo_rows, sft_target
from vr2.video.sampling import VideoSettings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = VideoSettings(fps=2.0, max_frames=4, min_pixels=3136, max_pixels=12544, subtitles=False)
SYSTEM = "You are a helpful assistant."
VISION = "<|vision_start|><|video_pad|><|vision_end|>"
QUESTION = "What colour is the background at 00:00:01?\nOptions:\nA. red\nB. green"
REPLY = "<think>At 00:00:01 the background is green.</think>\n<answer>B</answer>"
HUMANS = [
    # as the released rows write it, with words after the options that vr2's own prompt would drop
    "<video>\n" + QUESTION + "\nPlease answer with the option's letter from the given choices directly.",
    # the video placeholder last: the release's SFT puts the video there, its GRPO puts it first
    QUESTION + "\n<video>",
    # a placeholder inside a line, surrounding spaces kept
    "Watch <video> closely.\n" + QUESTION,
]
REPLIES = [REPLY, REPLY + "\n", " " + REPLY]  # the assistant turn verbatim, whitespace and all


def release_sft_text(human: str, reply: str) -> tuple[str, str, str]:
    """(system, prompt, reply) text of the release's SFT example."""
    user = re.sub(r"\n?<video>\n?", VISION, human)
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n",
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n", f"{reply}<|im_end|>\n")


def release_grpo_text(human: str) -> str:
    text = re.sub(r"\n?<video>\n?", "", human)
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{VISION}{text}<|im_end|>\n"
            "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def processor(smoke_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(smoke_dir / "model")


@pytest.fixture(scope="module")
def released(smoke_dir, tmp_path_factory):
    """(file, samples) of rows in the released format over the smoke clips."""
    rows = [{"id": f"r{i}", "video": f"clip{i}.mp4",
             # "assistant", as the released rows write it: the release maps only human/assistant to chat roles
             # (a "gpt" turn would open its SFT reply with `<|im_start|>gpt`; docs/method.md lists this)
             "conversations": [{"from": "human", "value": human}, {"from": "assistant", "value": reply}],
             "temporal_grounding": {"00:01": "the background is green"}}
            for i, (human, reply) in enumerate(zip(HUMANS, REPLIES))]
    path = tmp_path_factory.mktemp("released") / "rows.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    result = load_dataset_file(path, smoke_dir / "videos")
    assert not result.skipped
    return rows, result.samples


def expand(processor, text: str, video) -> torch.Tensor:
    """The processor's ids for text holding one video placeholder, the frames as vr2 hands them over."""
    loaded = LoadedModel(None, processor, "cpu")
    return processor(text=[text], return_tensors="pt", **_video_kwargs(loaded, [video]))["input_ids"][0]


def tokens(processor, text: str) -> torch.Tensor:
    return torch.tensor(processor.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_sft_feeds_the_release_text_and_ids(processor, released):
    _, samples = released
    loaded = LoadedModel(None, processor, "cpu")
    for sample, human, reply in zip(samples, HUMANS, REPLIES):
        system, prompt, answer = release_sft_text(human, reply)
        question, options, mode = prompts.training_prompt(sample, "release", "sft")
        assert prompt_text(loaded, question, options, mode) == system + prompt
        target = sft_target(sample, "release")
        assert target == reply
        example = collate.encode_sft(processor, sample, target, SETTINGS, style="release")
        video = collate.sample_frames(sample, SETTINGS)
        head = torch.cat([tokens(processor, system), expand(processor, prompt, video)])
        expected = torch.cat([head, tokens(processor, answer)])
        assert torch.equal(example.input_ids, expected), sample.id
        assert torch.equal(example.labels[: len(head)], torch.full_like(head, collate.IGNORE_INDEX))
        assert torch.equal(example.labels[len(head):], tokens(processor, answer))


def test_grpo_feeds_the_release_text_and_ids(processor, released):
    _, samples = released
    loaded = LoadedModel(None, processor, "cpu")
    encoder = collate.PromptEncoder(processor, samples, SETTINGS, style="release")
    for index, (sample, human) in enumerate(zip(samples, HUMANS)):
        question, options, mode = prompts.training_prompt(sample, "release", "grpo")
        assert prompt_text(loaded, question, options, mode) == release_grpo_text(human)
        video = collate.sample_frames(sample, SETTINGS)
        assert torch.equal(encoder.encode(index).input_ids, expand(processor, release_grpo_text(human), video))
    rows = grpo_rows(samples, "release")
    assert [row["prompt"] for row in rows] == [re.sub(r"\n?<video>\n?", "", h) for h in HUMANS]


def test_vr2_style_keeps_vr2s_prompt(processor, released):
    _, samples = released
    loaded = LoadedModel(None, processor, "cpu")
    sample = samples[0]
    assert prompts.training_prompt(sample, "vr2", "grpo") == (sample.question, sample.options, "think")
    text = prompt_text(loaded, *prompts.training_prompt(sample, "vr2", "sft"))
    assert prompts.SYSTEM_PROMPT in text and prompts.THINK_INSTRUCTION in text and "Please answer" not in text
    assert sft_target(sample, "vr2") == REPLY  # stripped, as vr2 always learned it


def test_a_plain_row_gets_a_human_turn_like_the_released_rows(smoke_dir):
    """A row in vr2's own layout has no human turn: the release style writes the one the released rows have."""
    from vr2.samples import Sample

    plain = Sample(id="p", video="v.mp4", question="Which colour?", options=["red", "green"])
    assert prompts.training_prompt(plain, "release", "grpo") == ("<video>\nWhich colour?\nA. red\nB. green", None,
                                                                 "release_grpo")


def test_paper_recipes_pick_the_release_prompt():
    for name in ("sft", "grpo", "grpo_tar", "tar_gated"):
        assert load_recipe(REPO / "recipes" / f"{name}.toml").prompt.style == "release", name


# --- against the release's own dataset code -----------------------------------------------------------


def release_module(checkout: Path, name: str, keep: set[str], namespace: dict) -> types.SimpleNamespace:
    """The named definitions of one release file, compiled alone: its imports (ujson, decord, qwen_vl_utils,
    src.params) are not needed to build text, and `namespace` supplies what the definitions use."""
    tree = ast.parse((checkout / "train" / "src" / name).read_text(encoding="utf-8"))
    body = [node for node in tree.body if getattr(node, "name", None) in keep
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in keep for t in node.targets))]
    scope = dict(namespace)
    exec(compile(ast.Module(body=body, type_ignores=[]), name, "exec"), scope)  # noqa: S102 - the release's code
    return types.SimpleNamespace(**{k: scope[k] for k in keep})


@pytest.fixture(scope="module")
def release():
    checkout = release_repo("train", "src").parents[1]  # skips unless $VR2_RELEASE_REPO is set
    names = ("IGNORE_INDEX", "DEFAULT_IM_START_TOKEN", "DEFAULT_IM_END_TOKEN", "DEFAULT_IMAGE_TOKEN",
             "DEFAULT_VIDEO_TOKEN", "LLAVA_IMAGE_TOKEN", "LLAVA_VIDEO_TOKEN", "VISION_START_TOKEN", "VISION_END_TOKEN",
             "SYSTEM_MESSAGE")
    constants = release_module(checkout, "constants.py", set(names), {})
    base = {"re": re, "torch": torch, "copy": copy, "os": os, "Path": Path, "Dataset": object, "Dict": dict,
            "transformers": types.SimpleNamespace(ProcessorMixin=object), "DataArguments": object,
            **vars(constants)}
    utils = release_module(checkout, "dataset/data_utils.py", {"replace_image_tokens", "llava_to_openai"}, base)
    sft = release_module(checkout, "dataset/sft_dataset.py", {"SupervisedDataset"},
                         {**base, "llava_to_openai": utils.llava_to_openai})
    grpo = release_module(checkout, "dataset/grpo_dataset.py",
                          {"replace_image_tokens", "llava_to_openai", "get_video_content", "GRPODataset"}, base)
    return types.SimpleNamespace(constants=constants, sft=sft, grpo=grpo)


def data_args(folder: Path) -> types.SimpleNamespace:
    return types.SimpleNamespace(image_min_pixels=None, image_max_pixels=None, video_min_pixels=3136,
                                 video_max_pixels=12544, image_resized_width=None, image_resized_height=None,
                                 video_resized_width=None, video_resized_height=None, fps=2.0,
                                 image_folder=str(folder), video_subtitles_folder=None, data_path="")


def test_release_sft_dataset_builds_the_same_example(processor, released, release, smoke_dir, monkeypatch):
    rows, samples = released
    assert release.constants.SYSTEM_MESSAGE == SYSTEM
    dataset = release.sft.SupervisedDataset(rows, processor, data_args(smoke_dir / "videos"), "Qwen2.5-VL-tiny")
    for index, sample in enumerate(samples):
        video = collate.sample_frames(sample, SETTINGS)
        kwargs = _video_kwargs(LoadedModel(None, processor, "cpu"), [video])
        # Its frame reader (qwen_vl_utils) is replaced by vr2's frames: this test is about text and ids.
        monkeypatch.setitem(release.sft.SupervisedDataset.__getitem__.__globals__, "get_video_info",
                            lambda *args, _v=kwargs: (_v["videos"][0], {"video_metadata": _v["video_metadata"],
                                                                        "do_sample_frames": False}))
        theirs = dataset[index]
        ours = collate.encode_sft(processor, sample, sft_target(sample, "release"), SETTINGS, style="release")
        assert torch.equal(theirs["input_ids"], ours.input_ids), sample.id
        assert torch.equal(theirs["labels"], ours.labels), sample.id
        assert torch.equal(theirs["video_grid_thw"], ours.video["video_grid_thw"])


def test_release_grpo_dataset_builds_the_same_prompt(processor, released, release, smoke_dir):
    from trl.data_utils import maybe_apply_chat_template

    rows, samples = released
    dataset = release.grpo.GRPODataset(rows, processor, data_args(smoke_dir / "videos"), "Qwen2.5-VL-tiny")
    loaded = LoadedModel(None, processor, "cpu")
    for index, sample in enumerate(samples):
        theirs = maybe_apply_chat_template(dataset[index], processor)["prompt"]
        assert theirs == prompt_text(loaded, *prompts.training_prompt(sample, "release", "grpo")), sample.id


def test_rows_the_release_could_not_train_as_written(processor, smoke_dir, tmp_path):
    """docs/method.md: no `<video>` -> the video first (the release's SFT would drop the video); several ->
    the video at the first, the others deleted (the release would fail); a `gpt` reply turn -> still the
    assistant role (the release's SFT would write `<|im_start|>gpt`)."""
    from vr2.samples import Sample

    loaded = LoadedModel(None, processor, "cpu")

    def text(human, stage):
        sample = Sample(id="x", video="v.mp4", question="q", extra={"prompt": human})
        return prompt_text(loaded, *prompts.training_prompt(sample, "release", stage))

    head = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
    tail = "<|im_end|>\n<|im_start|>assistant\n"
    assert text("Who sits?", "sft") == text("Who sits?", "grpo") == head + VISION + "Who sits?" + tail
    assert text("Look <video> and <video>\nwho sits?", "sft") == head + "Look " + VISION + " and who sits?" + tail
    assert text("Look <video> and <video>\nwho sits?", "grpo") == head + VISION + "Look  and who sits?" + tail
    row = {"video": "clip0.mp4", "conversations": [{"from": "human", "value": HUMANS[0]},
                                                   {"from": "gpt", "value": REPLY}]}
    (tmp_path / "gpt.json").write_text(json.dumps([row]), encoding="utf-8")
    sample, = load_dataset_file(tmp_path / "gpt.json", smoke_dir / "videos").samples
    example = collate.encode_sft(processor, sample, sft_target(sample, "release"), SETTINGS, style="release")
    assert processor.tokenizer.decode(example.input_ids).endswith(
        "<|im_start|>assistant\n" + REPLY + "<|im_end|>\n")
