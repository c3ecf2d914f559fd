"""Turning training samples into model tensors: the prompt with its video, and SFT batches.

Training must show the model exactly what evaluation shows it: the same chat prompt, frames sampled
and stamped the same way, and the video's time positions (`second_per_grid_ts`,
`mm_token_type_ids`) intact. So the prompt is built by `vr2.model.runtime.prepare_inputs`, the one place
that decides it, and this module only adds what training needs on top: the assistant turn as the
only supervised tokens (SFT), padding several samples into a batch, and the per-sample video
tensors that GRPO feeds into every forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from vr2.errors import Vr2Error
from vr2.model.prompts import training_prompt
from vr2.model.runtime import LoadedModel, prepare_inputs
from vr2.samples import Sample

if TYPE_CHECKING:
    from vr2.video.sampling import VideoSettings

IGNORE_INDEX = -100  # label of tokens that carry no loss
END_OF_TURN = "<|im_end|>"
VIDEO_TOKEN = "<|video_pad|>"
VIDEO_TYPE_ID = 2  # mm_token_type_ids: 0 text, 1 image, 2 video
# Per-sample video tensors of a Qwen2.5-VL processor call, concatenated along dim 0 in a batch.
VIDEO_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
RECENT_PROMPTS = 16  # decoded GRPO prompts a dataloader worker keeps (a prompt comes once per generation)


@dataclass
class EncodedPrompt:
    """One sample's prompt: token ids (1-D) and its video tensors, all on CPU."""

    input_ids: Any
    mm_token_type_ids: Any
    video: dict[str, Any]  # VIDEO_KEYS -> tensor with one row per video (pixels: one row per patch)


def sample_frames(sample: Sample, settings: VideoSettings):
    """The sample's video, sampled and stamped as the recipe's [video] section says."""
    return settings.sample(sample.video, start=sample.start, end=sample.end,
                           subtitles=settings.subtitles_for(sample.subtitles))


def encode_prompt(processor: Any, sample: Sample, settings: VideoSettings, style: str = "release",
                  stage: str = "grpo") -> EncodedPrompt:
    """Tokens and video tensors of one sample's prompt, ending with the assistant turn opener.

    `style` is the recipe's `prompt.style` (`vr2.model.prompts.training_prompt`); `stage` matters to
    the release style only, whose SFT and GRPO place the video differently.
    """
    video = sample_frames(sample, settings)
    loaded = LoadedModel(model=None, processor=processor, device="cpu")
    inputs = prepare_inputs(loaded, video, *training_prompt(sample, style, stage))
    return EncodedPrompt(
        input_ids=inputs["input_ids"][0],
        mm_token_type_ids=inputs["mm_token_type_ids"][0],
        video={key: inputs[key] for key in VIDEO_KEYS if key in inputs},
    )


def end_of_turn_id(tokenizer: Any) -> int:
    token_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        token_id = tokenizer.eos_token_id
    if token_id is None:
        raise Vr2Error(f"tokenizer: has neither {END_OF_TURN} nor an eos token to end the assistant turn")
    return token_id


@dataclass
class SftExample:
    """One supervised example: labels are IGNORE_INDEX everywhere but the assistant's reply."""

    input_ids: Any
    labels: Any
    mm_token_type_ids: Any
    video: dict[str, Any]


def supervised_reply(tokenizer: Any, target: str, style: str) -> list[int]:
    """The supervised tokens: the reply and its end of turn; the release style also learns the newline
    after it (its SFT tokenized `{reply}<|im_end|>\\n` as one text)."""
    end = end_of_turn_id(tokenizer)
    if style == "release" and tokenizer.convert_tokens_to_ids(END_OF_TURN) == end:
        return tokenizer(target + END_OF_TURN + "\n", add_special_tokens=False)["input_ids"]
    return tokenizer(target, add_special_tokens=False)["input_ids"] + [end]


def encode_sft(processor: Any, sample: Sample, target: str, settings: VideoSettings,
               max_length: int = 0, style: str = "release") -> SftExample:
    """Prompt + assistant reply; only the reply and its end-of-turn token are supervised.

    The reply is tokenized on its own and appended, so the prompt tokens are exactly the ones
    generation and evaluation see. `max_length` (0 = none) cuts the reply, never the prompt:
    cutting video tokens would leave video features without a place in the sequence.
    """
    import torch

    prompt = encode_prompt(processor, sample, settings, style, "sft")
    reply = supervised_reply(processor.tokenizer, target, style)
    if max_length:
        room = max_length - len(prompt.input_ids)
        if room < 2:
            raise Vr2Error(
                f"sample {sample.id}: its prompt is {len(prompt.input_ids)} tokens, more than sft.max_length="
                f"{max_length} allows; raise sft.max_length or lower video.max_frames / video.max_pixels"
            )
        reply = reply[:room]
    reply_ids = torch.tensor(reply, dtype=prompt.input_ids.dtype)
    input_ids = torch.cat([prompt.input_ids, reply_ids])
    labels = torch.cat([torch.full_like(prompt.input_ids, IGNORE_INDEX), reply_ids])
    mm_types = torch.cat([prompt.mm_token_type_ids, torch.zeros_like(reply_ids)])
    return SftExample(input_ids, labels, mm_types, prompt.video)


def concat_video(videos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several samples' video tensors as one batch (rows concatenated in sample order)."""
    import torch

    if not videos:
        return {}
    keys = [key for key in VIDEO_KEYS if all(key in video for video in videos)]
    return {key: torch.cat([video[key] for video in videos]) for key in keys}


def pad_right(rows: Sequence[Any], value: int):
    import torch

    width = max(len(row) for row in rows)
    out = torch.full((len(rows), width), value, dtype=rows[0].dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def collate_sft(examples: Sequence[SftExample], pad_token_id: int) -> dict[str, Any]:
    """Right-padded batch: input_ids, attention_mask, labels, mm_token_type_ids and the videos."""
    import torch

    ids = [e.input_ids for e in examples]
    batch = {
        "input_ids": pad_right(ids, pad_token_id),
        "attention_mask": pad_right([torch.ones_like(i) for i in ids], 0),
        "labels": pad_right([e.labels for e in examples], IGNORE_INDEX),
        "mm_token_type_ids": pad_right([e.mm_token_type_ids for e in examples], 0),
    }
    batch.update(concat_video([e.video for e in examples]))
    return batch


class VideoFallback:
    """Decode a sample's video; when it cannot be decoded, use the next sample that can.

    Videos are probed when the dataset loads, but a file can still fail mid-run (truncated after
    its header, changed on disk). Such a sample is recorded (id, video, reason), never tried again
    in this process, and replaced by the next decodable sample in dataset order, so the batch keeps
    its size and the run goes on. The trainer counts the records (`data/skipped_videos`) and writes
    them to `skipped_videos.jsonl`.
    """

    def __init__(self, samples: Sequence[Sample]):
        self.samples = samples
        self.bad: dict[int, str] = {}

    def encode(self, index: int, encode) -> tuple[int, Any, list[dict]]:
        """(index actually used, encode(index), records of the samples skipped on the way)."""
        skipped = []
        for offset in range(len(self.samples)):
            candidate = (index + offset) % len(self.samples)
            if candidate in self.bad:
                continue
            try:
                return candidate, encode(candidate), skipped
            except Vr2Error as error:
                sample = self.samples[candidate]
                self.bad[candidate] = str(error)
                skipped.append({"id": str(sample.id), "video": str(sample.video), "reason": str(error)})
        raise Vr2Error(f"no video of the {len(self.samples)} training samples can be decoded "
                       f"(last: {skipped[-1]['reason'] if skipped else 'none tried'})")


class SftCollator:
    """DataLoader collator for SFT: dataset rows -> decoded videos -> a padded batch.

    Rows carry the index of their sample; decoding happens here so that DataLoader workers
    (`data.num_workers`) decode videos in parallel with training. A video that fails to decode is
    replaced (VideoFallback); the batch then carries `skipped_videos` for the trainer to record.
    """

    def __init__(self, processor: Any, samples: Sequence[Sample], targets: Sequence[str],
                 settings: VideoSettings, max_length: int = 0, style: str = "release"):
        self.processor = processor
        self.samples = samples
        self.targets = targets
        self.settings = settings
        self.max_length = max_length
        self.style = style
        self.pad_token_id = processor.tokenizer.pad_token_id
        self.fallback = VideoFallback(samples)

    def example(self, index: int) -> SftExample:
        return encode_sft(self.processor, self.samples[index], self.targets[index], self.settings, self.max_length,
                          self.style)

    def __call__(self, rows: Sequence[dict]) -> dict[str, Any]:
        examples, ids, skipped = [], [], []
        for row in rows:
            used, example, failed = self.fallback.encode(row["index"], self.example)
            examples.append(example)
            ids.append(str(self.samples[used].id))
            skipped += failed
        batch = collate_sft(examples, self.pad_token_id)
        batch["sample_ids"] = ids  # for steps.jsonl; the trainer pops it
        batch["skipped_videos"] = skipped  # likewise
        return batch


class PromptEncoder:
    """Encodes GRPO prompts; a prompt repeated for its G generations is decoded once per batch.

    A prompt whose video fails to decode is replaced by the next decodable sample, row and all
    (the reward functions read the row's answer and grounding), see VideoFallback.
    """

    def __init__(self, processor: Any, samples: Sequence[Sample], settings: VideoSettings,
                 rows: Sequence[dict] | None = None, style: str = "release"):
        self.processor = processor
        self.samples = samples
        self.settings = settings
        self.style = style
        self.rows = rows  # the dataset rows by sample index, for replacements
        self.fallback = VideoFallback(samples)

    def encode(self, index: int) -> EncodedPrompt:
        return encode_prompt(self.processor, self.samples[index], self.settings, self.style, "grpo")

    def encode_rows(self, rows: Sequence[dict]) -> list[EncodedPrompt]:
        return self.encode_batch(rows)[1]

    def encode_batch(self, rows: Sequence[dict]) -> tuple[list[dict], list[EncodedPrompt], list[dict]]:
        """(rows, with replacements for undecodable videos; their prompts; skip records)."""
        cache: dict[int, tuple[int, EncodedPrompt]] = {}
        out_rows, prompts, skipped = [], [], []
        for row in rows:
            index = row["index"]
            if index not in cache:
                used, prompt, failed = self.fallback.encode(index, self.encode)
                cache[index] = (used, prompt)
                skipped += failed
            used, prompt = cache[index]
            if used != index:
                if self.rows is None:
                    raise Vr2Error(f"sample {self.samples[index].id}: its video cannot be decoded")
                row = dict(self.rows[used])
            out_rows.append(row)
            prompts.append(prompt)
        return out_rows, prompts, skipped

    def transform(self, columns: dict[str, list]) -> dict[str, list]:
        """A `datasets` transform that decodes while the DataLoader fetches rows (`data.num_workers`).

        TRL's GRPO dataloader reads rows through it, so each worker process decodes the videos of
        the batches ahead while the main process generates and trains; the prompt rides in the row
        (`video_prompt`) with any skip records (`video_skipped`). Recent prompts are kept, since the
        sampler hands the same prompt over once per generation.
        """
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        cache = self.__dict__.setdefault("_recent", {})
        out_rows, prompts, skipped = [], [], []
        for row in rows:
            index = row["index"]
            if index not in cache:
                if len(cache) >= RECENT_PROMPTS:
                    cache.pop(next(iter(cache)))
                new_rows, new_prompts, failed = self.encode_batch([row])
                cache[index] = (new_rows[0], new_prompts[0])
                skipped += failed
            used_row, prompt = cache[index]
            out_rows.append(used_row)
            prompts.append(prompt)
        out = {key: [row.get(key) for row in out_rows] for key in columns}
        out["video_prompt"] = prompts
        out["video_skipped"] = [skipped] + [[] for _ in prompts[1:]]
        return out


def video_token_types(input_ids: Any, video_token_id: int, completion_length: int = 0):
    """mm_token_type_ids for prompt(+completion) ids: 2 on the prompt's video tokens, else 0.

    The completion part is always text: a video token the policy might emit there has no video
    features behind it.
    """
    types = (input_ids == video_token_id).long() * VIDEO_TYPE_ID
    if completion_length:
        types[:, -completion_length:] = 0
    return types
