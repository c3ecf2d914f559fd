"""The prompt a policy sees for one video question, kept in one place.

Video-R2 asks the model to reason first and answer second, in the form
`<think> ... </think><answer> ... </answer>`, and to cite the times it relies on. Every
frame carries its own time (HH:MM:SS) drawn in its top-left corner, so the prompt tells the
model where to read it. The base-model "direct answer" row of the paper needs a second
mode that asks for the answer alone. A third, "paper", is the Video-R2 release's evaluation
prompt: the question is then the whole user text, already built by the benchmark's task prompt
(`vr2.eval.protocols.paper_prompt`), under the release's system prompt.

Training picks its prompt with the recipe's `[prompt] style` (`training_prompt`). "release" is what the
Video-R2 release trained on: the data row's own human turn, every word of it, under "You are a helpful
assistant."; its SFT puts the video where the row's `<video>` stands, its GRPO puts the video first and
deletes the placeholder (modes "release_sft" and "release_grpo"). "vr2" is vr2's own prompt (mode "think").
Each style is evaluated with the protocol that asks in the same words (`EVAL_PROTOCOL`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vr2.errors import Vr2Error
from vr2.samples import Sample

SYSTEM_PROMPT = "You are a helpful assistant who watches videos closely."
# The release evaluated under Qwen2.5-VL's default system prompt (its chat template's own default).
PAPER_SYSTEM_PROMPT = "You are a helpful assistant."

THINK_INSTRUCTION = (
    "Each frame shows its time as HH:MM:SS in the top-left corner. "
    "First reason about the video step by step inside <think> </think>, and name the time "
    "(HH:MM:SS) of every moment you rely on. "
    "Then give only the final answer inside <answer> </answer>."
)

DIRECT_MCQ_INSTRUCTION = "Answer with the letter of the correct option only."
DIRECT_OPEN_INSTRUCTION = "Answer with only the final answer, as briefly as possible."

MODES = ("think", "direct")

# Training prompt styles ([prompt] style), what each is, and the eval protocol that asks in its words.
PROMPT_STYLES = {
    "release": "the row's human turn verbatim under \"You are a helpful assistant.\"",
    "vr2": "vr2's system prompt, question, lettered options and think instruction",
}
EVAL_PROTOCOL = {"release": "paper", "vr2": "vr2"}
RELEASE_MODES = {"sft": "release_sft", "grpo": "release_grpo"}
# The release's dataset code replaces (SFT) or deletes (GRPO) each `<video>` together with at most one
# newline on either side; `<image>` and every other word stay as they are.
_RELEASE_VIDEO = re.compile(r"\n?<video>\n?")

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# A label the dataset may already have put in front of an option: "A. ", "(A) ", "A) ", "A: ".
_LABEL = re.compile(r"^\s*\(?([A-Za-z])\s*[.):]\s+")


def option_letter(index: int) -> str:
    """The letter of the option at `index` (0 -> "A")."""
    if not 0 <= index < len(LETTERS):
        raise Vr2Error(f"options: at most {len(LETTERS)} options are supported, got index {index}")
    return LETTERS[index]


def strip_label(option: str, letter: str) -> str:
    """Drop a leading label from an option when it is the option's own letter.

    Benchmarks differ: some store "red", others "A. red". Stripping only the matching
    letter keeps options such as "I think so" or "a) cat" under another letter intact.
    """
    match = _LABEL.match(option)
    if match and match.group(1).upper() == letter:
        return option[match.end() :].strip()
    return option.strip()


def format_question(question: str, options: Sequence[str] | None = None) -> str:
    """The question, then one line per option as "A. text"."""
    lines = [question.strip()]
    for index, option in enumerate(options or []):
        letter = option_letter(index)
        lines.append(f"{letter}. {strip_label(option, letter)}")
    return "\n".join(lines)


def instruction_for(mode: str, has_options: bool) -> str:
    """The instruction appended after the question for `mode`."""
    if mode == "think":
        return THINK_INSTRUCTION
    if mode == "direct":
        return DIRECT_MCQ_INSTRUCTION if has_options else DIRECT_OPEN_INSTRUCTION
    raise Vr2Error(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")


def release_human_turn(question: str, options: Sequence[str] | None = None) -> str:
    """The human turn of a row that has none (vr2's plain layout), as the released rows write theirs:
    `<video>` on its own line, then the question and its options lettered "A. text"."""
    return "<video>\n" + format_question(question, options)


def training_prompt(sample: Sample, style: str, stage: str) -> tuple[str, list[str] | None, str]:
    """(question text, options, mode) that `build_messages` turns into the sample's training prompt.

    `style` "release": the row's own human turn (`extra["prompt"]`, else `release_human_turn`) in the
    mode of `stage` ("sft" or "grpo"); "vr2": the sample's question and options in mode "think".
    """
    if style == "vr2":
        return sample.question, list(sample.options) if sample.options else None, "think"
    if style != "release":
        raise Vr2Error(f"prompt.style: must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
    if stage not in RELEASE_MODES:
        raise Vr2Error(f"stage: must be one of {', '.join(RELEASE_MODES)}, got {stage!r}")
    human = (sample.extra or {}).get("prompt")
    if not isinstance(human, str):
        human = release_human_turn(sample.question, sample.options)
    return human, None, RELEASE_MODES[stage]


def release_content(human: str, video_first: bool) -> list[dict]:
    """The user turn's blocks under the release's rule for one video.

    `video_first` (its GRPO): the video, then the human turn with every `<video>` deleted. Otherwise (its
    SFT) the video stands where the first `<video>` stood; further placeholders are deleted (the release
    would expand each into a video of its own and fail on a row with one video), and a turn without any
    gets the video first (the release would train that row without its video).
    """
    match = _RELEASE_VIDEO.search(human)
    if video_first or match is None:
        return [{"type": "video"}, {"type": "text", "text": _RELEASE_VIDEO.sub("", human)}]
    before, after = human[: match.start()], _RELEASE_VIDEO.sub("", human[match.end():])
    blocks = [{"type": "text", "text": before}] if before else []
    blocks.append({"type": "video"})
    return blocks + ([{"type": "text", "text": after}] if after else [])


def build_messages(
    question: str,
    options: Sequence[str] | None = None,
    *,
    mode: str = "think",
    system: str | None = SYSTEM_PROMPT,
) -> list[dict]:
    """Chat messages for one video question: a video block, then question and instruction.

    In modes "paper", "release_sft" and "release_grpo" `question` is the whole user text (options are
    not used) under the release's system prompt; the release modes place the video by `release_content`.
    The video block carries no path: vr2 decodes the frames and hands them to the processor
    separately. Blocks carry only the keys they need: Qwen's template treats any block with
    a "video" key as a video, so a text block must not get one (e.g. via an Arrow round-trip).
    """
    if mode in ("paper", *RELEASE_MODES.values()):
        system = PAPER_SYSTEM_PROMPT if system is not None else None
    if mode == "paper":
        content = [{"type": "video"}, {"type": "text", "text": question}]
    elif mode in RELEASE_MODES.values():
        content = release_content(question, video_first=mode == RELEASE_MODES["grpo"])
    else:
        text = format_question(question, options) + "\n" + instruction_for(mode, bool(options))
        content = [{"type": "video"}, {"type": "text", "text": text}]
    messages: list[dict] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    return messages
