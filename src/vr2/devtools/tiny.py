"""A tiny random Qwen2.5-VL, built offline in about a second.

Tests and CPU smoke runs need a model with Qwen2.5-VL's real architecture, processor and
token conventions, but no download. This module trains a small byte-level BPE on synthetic
text (the words our prompts and answers use: think/answer tags, options, digits, times),
wraps it as a `Qwen2Tokenizer` with Qwen's special tokens and a Qwen-style chat template,
and saves it with a randomly initialised `Qwen2_5_VLForConditionalGeneration` so that
`AutoProcessor` / `AutoModelForImageTextToText.from_pretrained(dir)` load it like the
real model. Everything is deterministic: the tokenizer is trained on a fixed corpus, the
weights come from `seed`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from vr2.errors import Vr2Error
from vr2.model import prompts

# Qwen2.5-VL's special tokens, in Qwen's order; they get the ids right after the BPE vocabulary.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen's pre-tokenizer split (contractions, letter runs, single digits, punctuation, spaces).
_PRETOKENIZE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

BPE_VOCAB_SIZE = 1000

# Rendered by the processor; the same turn structure as Qwen2.5-VL's own template
# (a default system turn, <|im_start|>role ... <|im_end|>, vision blocks as
# <|vision_start|><|video_pad|><|vision_end|>). Blocks are recognised by their "type" only.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for block in message['content'] -%}"
    "{%- if block['type'] == 'video' -%}"
    "{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif block['type'] == 'image' -%}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif block['type'] == 'text' -%}"
    "{{ block['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- endif -%}"
)

_WORDS = (
    "the a an and or of to in on at is are was were it this that there then so because "
    "video frame frames time second seconds minute scene screen shows appears person man woman "
    "people child dog cat car ball door table hand hands red blue green yellow black white "
    "left right top bottom first next finally before after while during opens closes walks runs "
    "holds picks puts moves turns looks sits stands says writes reads number count text sign "
    "question answer option options correct choice therefore so I choose think reasoning step "
    "evidence see seen visible shown corner subtitle subtitles color colour object objects "
    "how many what which who where when why does do did how long"
).split()


def _time_text(rng: random.Random) -> str:
    seconds = rng.randrange(0, 3 * 3600)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if rng.random() < 0.6:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randrange(4, 12))]
    if rng.random() < 0.7:
        words.insert(rng.randrange(len(words) + 1), f"at {_time_text(rng)}")
    if rng.random() < 0.3:
        words.append(str(rng.randrange(0, 10_000)))
    return " ".join(words).capitalize() + "."


def synthetic_corpus(lines: int = 2000) -> list[str]:
    """Fixed training text for the tiny tokenizer: prompts, options, reasoning and answers."""
    rng = random.Random(20251123)
    corpus = [
        prompts.SYSTEM_PROMPT,
        prompts.THINK_INSTRUCTION,
        prompts.DIRECT_MCQ_INSTRUCTION,
        prompts.DIRECT_OPEN_INSTRUCTION,
    ]
    for _ in range(lines):
        kind = rng.random()
        if kind < 0.4:
            think = " ".join(_sentence(rng) for _ in range(rng.randrange(1, 4)))
            answer = rng.choice(["A", "B", "C", "D", "E", str(rng.randrange(100)), rng.choice(_WORDS)])
            corpus.append(f"<think>{think}</think><answer>{answer}</answer>")
        elif kind < 0.7:
            options = [f"{prompts.LETTERS[i]}. {_sentence(rng)}" for i in range(rng.randrange(2, 6))]
            corpus.append(_sentence(rng) + "?\n" + "\n".join(options))
        else:
            corpus.append(_sentence(rng))
    return corpus


def build_tokenizer():
    """A Qwen2Tokenizer over a byte-level BPE trained on `synthetic_corpus()`."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(synthetic_corpus(), trainer)
    trained = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(trained["vocab"])
    # Give the special tokens fixed ids after the BPE pieces, as Qwen does.
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    merges = [tuple(pair) for pair in trained["merges"]]
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=32768,
        chat_template=CHAT_TEMPLATE,
    )


def build_processor(tokenizer):
    """Qwen2.5-VL's processor around `tokenizer`.

    The pixel bounds are wide (56x56 up to the real model's cap) so that frames vr2 has
    already sized are passed through unchanged, and tests can use very small frames.
    """
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    size = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 768}
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(size=size, cap_pixels_per_frame=False),
        chat_template=CHAT_TEMPLATE,
    )


def build_config(tokenizer):
    """A two-layer Qwen2.5-VL config whose token ids come from `tokenizer`."""
    from transformers import Qwen2_5_VLConfig

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        # head_dim 16 -> 8 rotary frequencies, split over (time, height, width).
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [4, 2, 2]},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        tokens_per_second=2,
        window_size=112,
        fullatt_block_indexes=[1],
    )
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def build_tiny_model(out_dir: str | Path, seed: int = 0, *, overwrite: bool = False) -> Path:
    """Write a tiny random Qwen2.5-VL (weights, config, processor, tokenizer) to `out_dir`.

    A folder that already holds files is left alone unless `overwrite` is set.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise Vr2Error(f"{out}: folder is not empty; pass --force to overwrite it")
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    config = build_config(tokenizer)
    # fork_rng: seed the weights without disturbing the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [config.text_config.eos_token_id, config.text_config.pad_token_id]
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    _quiet_save(model, processor, out)
    return out


def _quiet_save(model, processor, out: Path) -> None:
    # A progress bar for a 1 MB file is noise in tests and CLI output.
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        processor.save_pretrained(out)
    finally:
        if was_enabled:
            logging.enable_progress_bar()
