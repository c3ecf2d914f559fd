"""TRL's SFT and GRPO trainers, extended so that the video is part of every forward pass.

TRL 1.16 knows images (`image`/`images` columns), not videos. Its SFTTrainer drops pixels it
does not recognise; its GRPOTrainer, given a video in the prompt, lets generation see it but
computes the log-probabilities of the loss, the old policy and the reference model without it,
so the vision weights get no gradient and the policy is optimised for a video-less context.

`VideoGRPOTrainer` fixes this at the three places where TRL builds model inputs:
- `_tokenize_prompts`: prompts are encoded by vr2 (chat template + sampled, time-stamped frames),
  and the video tensors go to `generate`;
- `_generate_and_score_completions`: the encoded prompt of every row rides along in the batch
  (`video_inputs`), so it survives TRL's shuffling and splitting into micro-batches;
- `_get_per_token_logps_and_entropies`: every log-prob forward (loss, old policy, reference)
  gets the rows' `pixel_values_videos`, `video_grid_thw`, `second_per_grid_ts` and
  `mm_token_type_ids` (the 3-D time positions need the last two).

Both trainers also record which samples each optimizer step trained on (see vr2.train.checkpoints).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer, SFTTrainer

from vr2.console import stderr_console
from vr2.train.checkpoints import load_checkpoint_weights, record_skipped
from vr2.train.collate import (
    VIDEO_TOKEN,
    EncodedPrompt,
    PromptEncoder,
    concat_video,
    video_token_types,
)


class StepRecorder:
    """Remembers the samples seen since the last optimizer step (for steps.jsonl), and resumes
    with the checkpoint's weights really loaded (vr2.train.checkpoints.load_checkpoint_weights)."""

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        if getattr(self, "is_fsdp_enabled", False):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        load_checkpoint_weights(self.model if model is None else model, resume_from_checkpoint)

    def _skipped_videos(self, records: list[dict]) -> None:
        """Samples whose video failed mid-run (vr2.train.collate.VideoFallback): counted, logged, kept on record."""
        if not records:
            return

        self._skipped_count = getattr(self, "_skipped_count", 0) + len(records)
        if self.accelerator.is_main_process:
            record_skipped(self.args.output_dir, self.state.global_step + 1, records)
            for record in records:
                stderr_console().print(
                    f"[yellow]skipped[/yellow] sample {record['id']}: {record['reason']}", highlight=False)

    def log(self, logs: dict, *args, **kwargs) -> None:
        if "loss" in logs:  # a training log: how many videos failed so far
            logs["data/skipped_videos"] = float(getattr(self, "_skipped_count", 0))
        super().log(logs, *args, **kwargs)

    def _record(self, ids: Sequence) -> None:
        seen = getattr(self, "_step_samples", [])
        for sample_id in ids:
            if sample_id not in seen:  # a GRPO prompt comes once per generation
                seen.append(sample_id)
        self._step_samples = seen

    def step_samples(self) -> list:
        """The samples of the step just finished, from every process; resets the record."""
        mine, self._step_samples = list(getattr(self, "_step_samples", [])), []
        if self.accelerator.num_processes > 1:
            return list(dict.fromkeys(gather_object(mine)))
        return mine


class VideoSFTTrainer(StepRecorder, SFTTrainer):
    """SFTTrainer for batches made by `vr2.train.collate.SftCollator` (they carry `sample_ids`)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        ids = inputs.pop("sample_ids", None)
        skipped = inputs.pop("skipped_videos", None)
        if ids is not None and model.training:
            self._record(ids)
            self._skipped_videos(skipped or [])
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)


class VideoGRPOTrainer(StepRecorder, GRPOTrainer):
    """GRPOTrainer whose prompts carry a video into generation and every log-prob forward.

    Dataset rows need `prompt` (text, for logs), `index` (position in `encoder.samples`) and
    `id`; the other columns go to the reward functions as TRL does.
    """

    def __init__(self, *args, encoder: PromptEncoder, **kwargs):
        self.encoder = encoder
        self._videos: list[EncodedPrompt] | None = None  # rows of the batch being processed
        super().__init__(*args, **kwargs)
        self._video_token_id = self._tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)

    # --- generation -------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        if inputs and "video_prompt" in inputs[0]:  # decoded by a dataloader worker (PromptEncoder.transform)
            skipped = [record for row in inputs for record in row["video_skipped"]]
            self._videos = [row["video_prompt"] for row in inputs]
            inputs = [{k: v for k, v in row.items() if k not in ("video_prompt", "video_skipped")} for row in inputs]
        else:
            inputs, self._videos, skipped = self.encoder.encode_batch(inputs)
        if self.model.training:
            self._record([row["id"] for row in inputs])
            self._skipped_videos(skipped)
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            videos, self._videos = self._videos, None
        output["video_inputs"] = videos
        return output

    def _tokenize_prompts(self, prompts: list):
        """Prompt ids and video tensors from vr2's encoder (the text prompts are only for logs)."""
        videos = self._videos
        if videos is None or len(videos) != len(prompts):
            raise RuntimeError("VideoGRPOTrainer: prompts reached generation without their videos")
        prompt_ids = [video.input_ids.tolist() for video in videos]
        fields: dict[str, Any] = concat_video([video.video for video in videos])
        # A list of lists: TRL left-pads it like the prompt ids.
        fields["mm_token_type_ids"] = [video.mm_token_type_ids.tolist() for video in videos]
        return prompt_ids, None, fields

    # --- loss -------------------------------------------------------------------------------

    def _compute_loss(self, model, inputs):
        self._videos = inputs["video_inputs"]
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._videos = None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False,
                                           compute_aux_loss=False, **vision):
        videos = self._videos
        if videos is None:  # not a video batch: TRL's own path
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **vision)
        if len(videos) != input_ids.size(0):
            raise RuntimeError(f"VideoGRPOTrainer: {input_ids.size(0)} rows but {len(videos)} videos")
        device = input_ids.device
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = min(start + batch_size, input_ids.size(0))
            ids = input_ids[start:end]
            mask = attention_mask[start:end]
            model_inputs = {
                "input_ids": ids,
                "attention_mask": mask,
                "mm_token_type_ids": video_token_types(ids, self._video_token_id, logits_to_keep),
                **{k: v.to(device) for k, v in concat_video([v.video for v in videos[start:end]]).items()},
            }
            if compute_aux_loss:
                model_inputs["output_router_logits"] = True
            labels = ids.masked_fill(mask == 0, -100)
            labels[:, :-logits_to_keep] = -100  # only completion tokens are scored
            with self.accelerator.autocast():
                outputs = model(**model_inputs, labels=labels, fused_lm_head=True)
            logps.append(outputs.log_probs[:, -logits_to_keep:])
            if compute_entropy:
                entropies.append(outputs.entropy[:, -logits_to_keep:])
            if compute_aux_loss:
                aux_losses.append(outputs.aux_loss)
        return (
            torch.cat(logps, dim=0),
            torch.cat(entropies, dim=0) if compute_entropy else None,
            torch.stack(aux_losses).mean() if compute_aux_loss else None,
        )

    # --- rewards ----------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        """TRL's rewards, with partial masks made explicit.

        A reward function returns None where it cannot score (a failed judge). TRL would add the
        other rewards and count the missing one as 0, which turns a judge failure into a penalty.
        When a function scored some completions of a group but not others, the unscored ones are
        excluded from the group instead (all rewards NaN: no advantage, not in the baseline) and
        counted in `rewards/masked_completions`. A function that scored no completion of a group
        (e.g. a sample without temporal grounding) is constant there and left to TRL.
        """
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        mode = "train" if self.model.training else "eval"
        group = self.num_generations if mode == "train" else self.num_generations_eval
        grouped = rewards.view(-1, group, rewards.size(1))
        missing = torch.isnan(grouped)
        partial = missing.any(dim=1, keepdim=True) & ~missing.all(dim=1, keepdim=True)
        masked = (missing & partial).any(dim=2)
        grouped[masked] = torch.nan
        self._metrics[mode]["rewards/masked_completions"].append(float(masked.sum().item()))
        return grouped.view_as(rewards)
