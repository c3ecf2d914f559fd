"""Training tensors: the prompt evaluation sees, the reply as the only supervised part, batches."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.train import collate
from vr2.errors import Vr2Error
from vr2.model import prompts
from vr2.samples import Sample
from vr2.video.sampling import VideoSettings

SETTINGS = VideoSettings(fps=2.0, max_frames=4, min_pixels=3136, max_pixels=12544, subtitles=True)
REPLY = "<think>At 00:00:01 the background is green.</think><answer>B</answer>"


@pytest.fixture(scope="module")
def processor(smoke_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(smoke_dir / "model")


def sample(smoke_dir, clip=0, **fields) -> Sample:
    return Sample(id=f"s{clip}", video=str(smoke_dir / "videos" / f"clip{clip}.mp4"),
                  question="What colour is the background?", options=["red", "green"], **fields)


def test_prompt_is_the_one_evaluation_uses(processor, smoke_dir):
    from vr2.model.runtime import LoadedModel, prepare_inputs

    s = sample(smoke_dir)
    encoded = collate.encode_prompt(processor, s, SETTINGS, "vr2")
    video = collate.sample_frames(s, SETTINGS)
    reference = prepare_inputs(LoadedModel(None, processor, "cpu"), video, s.question, s.options)
    # The release style (GRPO): the human turn without `<video>`, as the paper protocol asks (system, video, text)
    release = collate.encode_prompt(processor, s, SETTINGS, "release")
    paper = prepare_inputs(LoadedModel(None, processor, "cpu"), video, prompts.format_question(s.question, s.options),
                           None, "paper")
    assert torch.equal(release.input_ids, paper["input_ids"][0])
    assert torch.equal(encoded.input_ids, reference["input_ids"][0])
    assert torch.equal(encoded.video["pixel_values_videos"], reference["pixel_values_videos"])
    assert torch.equal(encoded.video["second_per_grid_ts"], reference["second_per_grid_ts"])
    video_id = processor.tokenizer.convert_tokens_to_ids(collate.VIDEO_TOKEN)
    assert torch.equal(encoded.mm_token_type_ids == 2, encoded.input_ids == video_id)
    t, h, w = encoded.video["video_grid_thw"][0].tolist()
    assert int((encoded.input_ids == video_id).sum()) == t * h * w // 4


@pytest.mark.parametrize("style,end", [("vr2", collate.END_OF_TURN), ("release", collate.END_OF_TURN + "\n")])
def test_only_the_reply_is_supervised(processor, smoke_dir, style, end):
    example = collate.encode_sft(processor, sample(smoke_dir), REPLY, SETTINGS, style=style)
    supervised = example.input_ids[example.labels != collate.IGNORE_INDEX]
    assert processor.tokenizer.decode(supervised) == REPLY + end
    prompt = collate.encode_prompt(processor, sample(smoke_dir), SETTINGS, style, "sft")
    assert torch.equal(example.input_ids[: len(prompt.input_ids)], prompt.input_ids)
    assert (example.labels[: len(prompt.input_ids)] == collate.IGNORE_INDEX).all()
    assert (example.mm_token_type_ids[len(prompt.input_ids):] == 0).all()


def test_max_length_cuts_the_reply_never_the_prompt(processor, smoke_dir):
    prompt_len = len(collate.encode_prompt(processor, sample(smoke_dir), SETTINGS).input_ids)
    example = collate.encode_sft(processor, sample(smoke_dir), REPLY, SETTINGS, max_length=prompt_len + 5)
    assert len(example.input_ids) == prompt_len + 5
    assert int((example.labels != collate.IGNORE_INDEX).sum()) == 5
    with pytest.raises(Vr2Error, match="sample s0: its prompt is .* sft.max_length"):
        collate.encode_sft(processor, sample(smoke_dir), REPLY, SETTINGS, max_length=prompt_len)


def test_subtitles_change_the_frames(processor, smoke_dir):
    with_subs = sample(smoke_dir, subtitles=str(smoke_dir / "subtitles" / "clip0.srt"))
    plain = collate.sample_frames(sample(smoke_dir), SETTINGS).frames
    drawn = collate.sample_frames(with_subs, SETTINGS).frames
    assert not (plain == drawn).all()
    off = VideoSettings(**{**SETTINGS.kwargs(), "subtitles": False})
    assert (collate.sample_frames(with_subs, off).frames == plain).all()


def test_collator_pads_right_and_keeps_every_video(processor, smoke_dir):
    samples = [sample(smoke_dir, 0), sample(smoke_dir, 1)]
    collator = collate.SftCollator(processor, samples, [REPLY, "<think>x</think><answer>A</answer>"], SETTINGS)
    batch = collator([{"index": 0, "id": "s0"}, {"index": 1, "id": "s1"}])
    assert batch["sample_ids"] == ["s0", "s1"]
    lengths = batch["attention_mask"].sum(1).tolist()
    assert lengths[0] > lengths[1]
    short = batch["input_ids"][1]
    assert (short[lengths[1]:] == processor.tokenizer.pad_token_id).all()
    assert (batch["labels"][1, lengths[1]:] == collate.IGNORE_INDEX).all()
    grids = batch["video_grid_thw"]
    assert grids.shape[0] == 2 and batch["pixel_values_videos"].shape[0] == int(grids.prod(-1).sum())


def test_prompt_encoder_decodes_a_repeated_prompt_once(processor, smoke_dir):
    encoder = collate.PromptEncoder(processor, [sample(smoke_dir, 0), sample(smoke_dir, 1)], SETTINGS)
    rows = [{"index": 0}, {"index": 0}, {"index": 1}, {"index": 1}]
    out = encoder.encode_rows(rows)
    assert out[0] is out[1] and out[2] is out[3] and out[0] is not out[2]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=6, max_size=6), min_size=1, max_size=4),
       st.integers(0, 6))
def test_video_token_types_mark_prompt_video_tokens_only(rows, completion):
    ids = torch.tensor(rows)
    types = collate.video_token_types(ids, 3, completion)
    for r, row in enumerate(rows):
        for c, token in enumerate(row):
            in_prompt = c < len(row) - completion
            assert types[r, c] == (2 if token == 3 and in_prompt else 0)


def broken_sample(tmp_path, smoke_dir) -> Sample:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes((smoke_dir / "videos" / "clip0.mp4").read_bytes()[:200])  # header cut short
    return Sample(id="broken", video=str(bad), question="What colour is the background?", options=["red", "green"])


def test_a_video_failing_mid_run_is_replaced_and_recorded(processor, smoke_dir, tmp_path):
    samples = [sample(smoke_dir, 0), broken_sample(tmp_path, smoke_dir), sample(smoke_dir, 2)]
    collator = collate.SftCollator(processor, samples, [REPLY] * 3, SETTINGS)
    batch = collator([{"index": 1, "id": "broken"}, {"index": 0, "id": "s0"}])
    assert batch["sample_ids"] == ["s2", "s0"]  # the next decodable sample took its place
    assert [r["id"] for r in batch["skipped_videos"]] == ["broken"] and "broken.mp4" in batch["skipped_videos"][0]["reason"]
    again = collator([{"index": 1, "id": "broken"}])
    assert again["sample_ids"] == ["s2"] and again["skipped_videos"] == []  # not retried, not counted twice

    rows = [{"index": i, "id": s.id, "answer": f"answer {i}"} for i, s in enumerate(samples)]
    encoder = collate.PromptEncoder(processor, samples, SETTINGS, rows=rows)
    out_rows, prompts, skipped = encoder.encode_batch([rows[1], rows[1], rows[0], rows[0]])
    assert [r["id"] for r in out_rows] == ["s2", "s2", "s0", "s0"] and out_rows[0]["answer"] == "answer 2"
    assert len(prompts) == 4 and [r["id"] for r in skipped] == ["broken"]


def test_no_decodable_video_at_all_is_an_error(processor, smoke_dir, tmp_path):
    collator = collate.SftCollator(processor, [broken_sample(tmp_path, smoke_dir)], [REPLY], SETTINGS)
    with pytest.raises(Vr2Error, match="no video of the 1 training samples can be decoded"):
        collator([{"index": 0, "id": "broken"}])
