"""The prompt a policy sees for one video question, kept in one place.

Video-R2 asks the model to reason first and answer second, in the form
`<think> ... </think><answer> ... </answer>`, and to cite the times it relies on. Every
frame carries its own time (HH:MM:SS) drawn in its top-left corner, so the prompt tells the
model where to read it. The base-model "direct answer" row of the paper needs a second
mode that asks for the answer alone. A third, "paper", is the Video-R2 release's evaluation
prompt: the question is then the whole user text, already built by the benchmark's task prompt
(`vr2.eval.protocols.paper_prompt`), under the release's system prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vr2.errors import Vr2Error

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


def build_messages(
    question: str,
    options: Sequence[str] | None = None,
    *,
    mode: str = "think",
    system: str | None = SYSTEM_PROMPT,
) -> list[dict]:
    """Chat messages for one video question: a video block, then question and instruction.

    The video block carries no path: vr2 decodes the frames and hands them to the processor
    separately. Blocks carry only the keys they need: Qwen's template treats any block with
    a "video" key as a video, so a text block must not get one (e.g. via an Arrow round-trip).
    """
    if mode == "paper":
        text = question
        system = PAPER_SYSTEM_PROMPT if system is not None else None
    else:
        text = format_question(question, options) + "\n" + instruction_for(mode, bool(options))
    messages: list[dict] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append(
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": text}]}
    )
    return messages
