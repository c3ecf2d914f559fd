"""The OpenRLHF backend plugin (plugins/vr2-openrlhf), tested without openrlhf: the prompt data, the
reward file against vr2's own reward functions, the rollout's vLLM request and its response, the
video in an OpenRLHF-0.11.2-style training forward, the command line, the refusals, the hook."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shlex
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.plugins import registry as plugins
from vr2.config import load_recipe
from vr2.errors import MissingExtra, Vr2Error

PLUGIN = Path(__file__).resolve().parents[1]  # plugins/vr2-openrlhf
REPO = PLUGIN.parents[1]
PLUGIN_SRC = PLUGIN / "src"
VLLM_SRC = REPO / "plugins" / "vr2-vllm" / "src"
HAS_OPENRLHF = importlib.util.find_spec("openrlhf") is not None
COMPLETIONS = {
    # clip 0 of the smoke data: "What colour is the background at 00:00:01?", answer B (green)
    "consistent": ("<think>At 00:00:00 the background is red. At 00:00:01 the background turns green. "
                   "So the answer is B.</think><answer>B</answer>"),
    "inconsistent": ("<think>At 00:00:00 the background is red. At 00:00:01 the background turns green. "
                     "So the answer is C.</think><answer>B</answer>"),
    "missing_think": "<answer>B</answer>",
}


@pytest.fixture(scope="module")
def orl():
    """The plugin's modules, imported from its source folder (it need not be installed)."""
    sys.path.insert(0, str(PLUGIN_SRC))
    try:
        import vr2_openrlhf
        from vr2_openrlhf import backend, cli, command, data, rewards, rollout

        yield types.SimpleNamespace(pkg=vr2_openrlhf, backend=backend, cli=cli, command=command, data=data,
                                    rewards=rewards, rollout=rollout)
    finally:
        sys.path.remove(str(PLUGIN_SRC))


def smoke_recipe(smoke_dir: Path, output: Path, name: str = "tar_gated", *extra: str):
    """A smoke recipe pointed at the smoke data, with settings OpenRLHF accepts (GPU, bf16)."""
    return load_recipe(REPO / "recipes" / "smoke" / f"{name}.toml", [
        f'model.name_or_path="{smoke_dir / "model"}"', f'data.train_file="{smoke_dir / "grpo.json"}"',
        f'data.video_dir="{smoke_dir / "videos"}"', f'data.subtitles_dir="{smoke_dir / "subtitles"}"',
        f'trainer.output_dir="{output}"', "trainer.use_cpu=false", 'trainer.precision="auto"', *extra,
    ])


@pytest.fixture(scope="module")
def plan(orl, smoke_dir, tmp_path_factory):
    recipe = smoke_recipe(smoke_dir, tmp_path_factory.mktemp("orl") / "run", "tar_gated", "grpo.num_generations=3")
    return recipe, orl.backend.prepare(recipe, orl.command.Launch(dry_run=True))


@pytest.fixture(scope="module")
def rows(plan):
    _, prepared = plan
    return [json.loads(line) for line in prepared.files.prompts.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def loaded(smoke_dir):
    from vr2.model.runtime import load_model

    return load_model(str(smoke_dir / "model"), device="cpu", dtype="float32")


# --- the hook and the missing dependency ----------------------------------------------------------


def test_the_plugin_registers_the_backend_through_the_hook(orl):
    if "openrlhf" in plugins.components("vr2_trainer_backends"):
        pytest.skip("vr2-openrlhf is installed here (its entry point registered it already)")
    plugins.register(orl.pkg, name="vr2-openrlhf-test")
    try:
        component = plugins.components("vr2_trainer_backends")["openrlhf"]
        assert component.plugin == "vr2-openrlhf-test"
        backend = plugins.make_backend("openrlhf")
        assert isinstance(backend, orl.backend.OpenRLHFBackend) and backend.name == "openrlhf"
        assert callable(backend.sft) and callable(backend.grpo)
    finally:
        plugins.unregister("vr2-openrlhf-test")
    assert "openrlhf" not in plugins.components("vr2_trainer_backends")


def test_sft_is_refused_with_the_reason(orl, smoke_dir, tmp_path):
    with pytest.raises(Vr2Error, match=r"reads text.*trainer.backend = \"trl\""):
        orl.backend.OpenRLHFBackend().sft(smoke_recipe(smoke_dir, tmp_path))


@pytest.mark.skipif(HAS_OPENRLHF, reason="openrlhf is installed here")
def test_without_openrlhf_training_names_the_install(orl, smoke_dir, tmp_path):
    launch = orl.command.Launch(dry_run=False)
    with pytest.raises(MissingExtra, match=r"pip install openrlhf==0\.11\.2") as error:
        orl.backend.OpenRLHFBackend(launch).grpo(smoke_recipe(smoke_dir, tmp_path / "run"))
    assert "plugins/vr2-openrlhf" in str(error.value)
    assert not (tmp_path / "run").exists()  # refused before any data was written


def test_another_openrlhf_version_is_refused(orl, tmp_path, monkeypatch):
    (tmp_path / "openrlhf").mkdir()
    (tmp_path / "openrlhf" / "__init__.py").write_text("")
    meta = tmp_path / "openrlhf-0.12.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: openrlhf\nVersion: 0.12.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Vr2Error, match=r"openrlhf 0\.12\.0 is installed.*needs openrlhf 0\.11\.2"):
        orl.backend.require_openrlhf()


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("lora.enabled=true", "lora.enabled = true"),
    ("model.freeze_llm=true", "always trains the language model"),
    ("model.freeze_merger=false", "freezes the vision tower and the merger together"),
    ('grpo.loss_type="bnpo"', "no OpenRLHF 0.11.2 equivalent"),
    ('trainer.precision="fp32"', "bf16 or fp16 only"),
    ('model.dtype="float32"', "bf16 or fp16 only"),
    ("trainer.use_cpu=true", "GPUs only"),
    ('trainer.report_to="wandb"', "tensorboard"),
    ("rewards.accuracy=0.0", None),
    ("trainer.epochs=1.5", "whole number"),
])
def test_recipes_openrlhf_cannot_train_as_written_are_refused(orl, smoke_dir, tmp_path, override, message):
    extra = [override, "trainer.max_steps=-1"]
    if override == "rewards.accuracy=0.0":
        extra += ["rewards.format=0.0", "rewards.tar=0.0"]
        message = "every reward weight is 0"
    recipe = smoke_recipe(smoke_dir, tmp_path / "run", "tar_gated", *extra)
    with pytest.raises(Vr2Error, match=message):
        orl.backend.prepare(recipe, orl.command.Launch(dry_run=True))
    assert not (tmp_path / "run").exists()


def test_an_unfrozen_vision_tower_trains(orl, smoke_dir, tmp_path):
    """The video reaches the training forward (see the forward tests), so vision may train."""
    recipe = smoke_recipe(smoke_dir, tmp_path / "run", "tar_gated", "model.freeze_vision=false",
                          "model.freeze_merger=false")
    prepared = orl.backend.prepare(recipe, orl.command.Launch(dry_run=True))
    assert "--actor.freeze_visual_encoder" not in prepared.command


def test_too_few_prompts_for_one_step_are_refused(orl, smoke_dir, tmp_path):
    recipe = smoke_recipe(smoke_dir, tmp_path / "run", "tar_gated", "trainer.prompts_per_step=8")
    with pytest.raises(Vr2Error, match=r"4 prompts, fewer than the 8 one step takes"):
        orl.backend.prepare(recipe, orl.command.Launch(gpus_per_node=8, dry_run=True))


def test_resume_needs_a_checkpoint_and_a_fresh_run_an_empty_folder(orl, plan):
    recipe, prepared = plan
    launch = orl.command.Launch(dry_run=True)
    with pytest.raises(Vr2Error, match="no OpenRLHF checkpoint to resume from"):
        orl.backend.prepare(recipe, launch, resume=True)
    saved = prepared.files.checkpoints / "_actor" / "global_step1"
    saved.mkdir(parents=True)
    try:
        with pytest.raises(Vr2Error, match="already holds checkpoints of an earlier run"):
            orl.backend.prepare(recipe, launch)
        resumed = orl.backend.prepare(recipe, launch, resume=True)
        assert resumed.command[-1] == "--ckpt.load_enable"
    finally:
        saved.rmdir()
        saved.parent.rmdir()


# --- data conversion ------------------------------------------------------------------------------


def test_prompt_rows_carry_every_field(orl, plan, rows, loaded):
    from vr2.model.prompts import training_prompt
    from vr2.model.runtime import prompt_text
    from vr2.train.data import load_samples

    recipe, prepared = plan
    samples = load_samples(recipe)
    assert len(rows) == prepared.rows == len(samples) == 4
    for index, (row, sample) in enumerate(zip(rows, samples)):
        assert set(row) == {"prompt", "label"}
        assert row["prompt"] == prompt_text(loaded, *training_prompt(sample, "release", "grpo"))
        assert row["prompt"].startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
        assert "<|vision_end|>" + sample.extra["prompt"].removeprefix("<video>\n") + "<|im_end|>" in row["prompt"]
        label = json.loads(row["label"])
        assert label == orl.data.decode_label(row["label"])
        assert label["format"] == "vr2-openrlhf/2" and label["index"] == index and label["id"] == sample.id
        assert label["question"] == sample.question and label["options"] == sample.options
        assert label["answer"] == sample.answer and label["answer_type"] == "multiple_choice"
        assert label["temporal_grounding"] == sample.temporal_grounding
        assert label["temporal_grounding"]["00:01"] == "the background is green"
        assert label["video"] == sample.video and Path(label["video"]).is_absolute()
        assert Path(label["video"]).is_file() and (label["start"], label["end"]) == (None, None)
        assert (label["prompt_style"], label["human"]) == ("release", sample.extra["prompt"])
        assert label["video_settings"] == {"fps": 2.0, "max_frames": 4, "min_pixels": 3136, "max_pixels": 12544,
                                           "timestamp_overlay": True, "subtitles": True}
        back = orl.data.sample_from_label(label)
        for name in ("id", "video", "question", "options", "answer", "answer_type", "temporal_grounding",
                     "start", "end"):
            assert getattr(back, name) == getattr(sample, name), name
        assert training_prompt(back, "release", "grpo") == training_prompt(sample, "release", "grpo")
    assert Path(json.loads(rows[0]["label"])["subtitles"]).name == "clip0.srt"
    assert json.loads(rows[1]["label"])["subtitles"] is None
    settings = orl.data.settings_from_label(json.loads(rows[0]["label"]))
    assert (settings.fps, settings.max_frames, settings.max_pixels, settings.timestamp_overlay) == (2.0, 4, 12544, True)


def test_the_vr2_prompt_style_reaches_the_rows(orl, plan, loaded):
    from vr2.model.runtime import prompt_text
    from vr2.train.data import load_samples

    recipe, _ = plan
    sample = load_samples(recipe)[0]
    row, = orl.data.prompt_rows(loaded.processor, [sample], recipe.video, "vr2")
    assert row["prompt"] == prompt_text(loaded, sample.question, sample.options, "think")
    assert json.loads(row["label"])["prompt_style"] == "vr2"


def test_sequence_budget_holds_the_longest_prompt_with_its_video(orl, plan, rows, loaded):
    from vr2.model.prompts import training_prompt
    from vr2.train.collate import sample_frames
    from vr2.model.runtime import prepare_inputs

    recipe, prepared = plan
    longest = 0
    for row in rows:
        label = orl.data.decode_label(row["label"])
        sample = orl.data.sample_from_label(label)
        video = sample_frames(sample, orl.data.settings_from_label(label))
        ids = prepare_inputs(loaded, video, *training_prompt(sample, label["prompt_style"], "grpo"))["input_ids"]
        longest = max(longest, ids.shape[1])
    assert longest + recipe.grpo.max_completion_length <= prepared.max_len
    assert orl.data.video_token_bound(recipe.video) == 2 * (12544 // 784)


label_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                            max_leaves=8)


def test_a_null_sentence_reaches_the_reward_as_null(orl):
    """The bad-key rule drops it inside vr2's reward (counted), as in `vr2 score` and the TRL backend."""
    from vr2.samples import Sample

    sample = Sample(id="x", video="/v/a.mp4", question="Who sits?", temporal_grounding={"00:01": None, "00:02": "A man."})
    label = orl.data.decode_label(orl.data.encode_label(orl.data.label_for(sample, 0, orl.data.settings_dict(
        load_recipe(None).video))))
    assert label["temporal_grounding"] == {"00:01": None, "00:02": "A man."}


@settings(max_examples=60, deadline=None)
@given(question=st.text(), options=st.lists(st.text(), max_size=5), answer=st.none() | st.text(),
       grounding=st.none() | st.dictionaries(st.text(), st.text(), max_size=4),
       start=st.none() | st.floats(min_value=0, max_value=1e5))
def test_labels_round_trip(orl, question, options, answer, grounding, start):
    from vr2.samples import Sample

    sample = Sample(id="x", video="/v/a.mp4", question=question, options=options, answer=answer,
                    answer_type="free_form", temporal_grounding=grounding, start=start)
    settings_ = {"fps": 1.0, "max_frames": 8, "min_pixels": 1, "max_pixels": 2, "timestamp_overlay": False,
                 "subtitles": False}
    label = orl.data.label_for(sample, 3, settings_)
    assert orl.data.decode_label(orl.data.encode_label(label)) == label


@settings(max_examples=80, deadline=None)
@given(text=st.text() | label_values.map(json.dumps))
def test_decode_label_rejects_anything_else_with_vr2error(orl, text):
    try:
        orl.data.decode_label(text)
    except Vr2Error:
        return
    pytest.fail("decode_label accepted something that is not a vr2-openrlhf label")


# --- the reward file --------------------------------------------------------------------------------


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vr2_rewards(recipe, completions, sample):
    """What vr2's own reward functions (TRL backend, vr2 score) give these completions."""
    from vr2.scoring.rewards import reward_functions, reward_weights, total_reward

    n = len(completions)
    columns = {"answer": [sample.answer] * n, "answer_type": [sample.answer_type] * n,
               "options": [sample.options] * n, "temporal_grounding": [sample.temporal_grounding] * n}
    parts = {name: fn(completions, **columns) for name, fn in reward_functions(recipe).items()}
    return parts, total_reward(parts, reward_weights(recipe))


def test_reward_file_matches_vr2s_reward_functions(orl, plan, rows):
    from vr2.train.data import load_samples

    recipe, prepared = plan
    reward = load_module(prepared.files.reward, "reward_under_test")
    sample = load_samples(recipe)[0]
    names = list(COMPLETIONS)
    completions = [COMPLETIONS[n] for n in names]
    parts, totals = vr2_rewards(recipe, completions, sample)
    assert parts["accuracy"] == [1.0, 1.0, 1.0] and parts["format"] == [1.0, 1.0, 0.0]
    assert parts["tar"][0] > 0 and parts["tar"][1] == 0.0 and parts["tar"][2] == 0.0  # gate closed / no think
    prompt, label = rows[0]["prompt"], rows[0]["label"]
    for k, completion in enumerate(completions):
        # as vr2's rollout sends it, and as OpenRLHF's own executor would (prompt decoded, video expanded)
        expanded = prompt.replace("<|video_pad|>", "<|video_pad|>" * 32)
        for query in (prompt + completion + "<|im_end|>", expanded + completion + "<|im_end|><|endoftext|>"):
            out = reward.reward_func([query], [prompt], [label])
            assert set(out) == {"rewards", "scores", "extra_logs"}
            assert out["rewards"].tolist() == pytest.approx([totals[k]]) and out["scores"].tolist() == out["rewards"].tolist()
            logs = {key: value.tolist()[0] for key, value in out["extra_logs"].items()}
            assert logs["vr2/accuracy"] == parts["accuracy"][k] and logs["vr2/format"] == parts["format"][k]
            assert logs["vr2/tar"] == pytest.approx(parts["tar"][k]) and logs["vr2/masked"] == 0.0
            assert logs["vr2/tar_gate"] == (1.0 if names[k] == "consistent" else 0.0)
    assert logs["vr2/tar_claims"] == 0.0 and logs["vr2/tar_no_reference"] == 0.0


def test_a_sample_without_grounding_gets_a_group_constant_tar(orl, plan, rows):
    recipe, prepared = plan
    reward = load_module(prepared.files.reward, "reward_no_reference")
    label = json.loads(rows[0]["label"])
    label["temporal_grounding"] = None
    completions = [COMPLETIONS["consistent"], COMPLETIONS["missing_think"]]
    out = reward.reward_func([rows[0]["prompt"] + c for c in completions], [rows[0]["prompt"]] * 2,
                             [orl.data.encode_label(label)] * 2)
    assert out["rewards"].tolist() == [2.0, 1.0]  # accuracy + format; TAR 0 for the whole group
    assert out["extra_logs"]["vr2/tar_no_reference"].tolist() == [1.0, 1.0]
    assert out["extra_logs"]["vr2/masked"].tolist() == [0.0, 0.0]


def test_the_reward_file_follows_the_recipes_rules(orl, plan, smoke_dir, tmp_path):
    """`accuracy.rules` and `format.rules` reach the reward file through the run's saved recipe: under the
    release's rules "(B)" reads no letter and a newline after </answer> fails the format."""
    completion = ("<think>At 00:00:01 the background turns green. So the answer is B.</think>"
                  "<answer>(B)</answer>\n")
    release = smoke_recipe(smoke_dir, tmp_path / "run", "tar_gated", "grpo.num_generations=3", "rewards.tar=0",
                           'accuracy.rules="release"', 'format.rules="release"')
    runs = [(plan[1], "reward_vr2_rules", 1.0), (orl.backend.prepare(release, orl.command.Launch(dry_run=True)),
                                                 "reward_release_rules", 0.0)]
    for prepared, name, expected in runs:
        reward = load_module(prepared.files.reward, name)
        row = json.loads(prepared.files.prompts.read_text(encoding="utf-8").splitlines()[0])
        out = reward.reward_func([row["prompt"] + completion + "<|im_end|>"], [row["prompt"]], [row["label"]])
        logs = {key: value.tolist()[0] for key, value in out["extra_logs"].items()}
        assert (logs["vr2/accuracy"], logs["vr2/format"]) == (expected, expected), name


@settings(max_examples=80, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_characters="<|>")), prompt=st.text())
def test_completion_is_cut_out_of_any_query(orl, text, prompt):
    prompt = prompt + "<|im_start|>assistant\n"
    assert orl.rewards.completion_from_query(prompt + text + "<|im_end|>", prompt) == text
    assert orl.rewards.completion_from_query("X" + prompt + text, prompt) == text  # prompt decoded differently
    with pytest.raises(Vr2Error):
        orl.rewards.completion_from_query(text, "<|im_start|>assistant\n" + "P")


# --- the rollout ------------------------------------------------------------------------------------


class UnsureConsistency:
    """A consistency checker that cannot decide when the reasoning says UNSURE (like a failed judge)."""

    name = "unsure-test"

    def check(self, think, answer, answer_type=None, options=None):
        from vr2.scoring.consistency import RuleConsistency

        return None if "UNSURE" in think else RuleConsistency().check(think, answer, answer_type, options)


class UnsurePlugin:
    @plugins.hookimpl
    def vr2_consistency_checkers(self):
        return {"unsure-test": lambda judge=None: UnsureConsistency()}


class ScriptedEngine:
    """Stands in for OpenRLHF's vLLM actor (`generate(ids, params, multi_modal_data)`): it expands the
    single video placeholder the way vLLM's Qwen2.5-VL processor does, from the request's frames and
    metadata, and answers with scripted completions."""

    def __init__(self, processor, replies):
        self.processor, self.replies, self.requests = processor, list(replies), []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        from transformers.video_utils import VideoMetadata

        self.requests.append((list(prompt_token_ids), sampling_params, multi_modal_data))
        frames, meta = multi_modal_data["video"]
        text = self.processor.tokenizer.decode(prompt_token_ids, skip_special_tokens=False)
        expanded = self.processor(text=[text], videos=[frames], do_sample_frames=meta["do_sample_frames"],
                                  video_metadata=[VideoMetadata(**{k: v for k, v in meta.items() if k != "do_sample_frames"})],
                                  return_tensors="pt")["input_ids"][0].tolist()
        ids = self.processor.tokenizer(self.replies.pop(0), add_special_tokens=False)["input_ids"]
        end = self.processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
        output = types.SimpleNamespace(token_ids=ids + [end], finish_reason="stop", logprobs=None)
        return types.SimpleNamespace(prompt_token_ids=expanded, outputs=[output])


def agent_executor(path: Path, monkeypatch):
    """agent.py loaded the way OpenRLHF loads it, with a stand-in for openrlhf.utils.agent."""
    from abc import ABC, abstractmethod

    class AgentExecutorBase(ABC):
        @abstractmethod
        async def execute(self, prompt, label, sampling_params, max_length, hf_tokenizer, llm_engine, images=None):
            ...

    stand_in = types.ModuleType("openrlhf.utils.agent")
    stand_in.AgentExecutorBase = AgentExecutorBase
    for name in ("openrlhf", "openrlhf.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "openrlhf.utils.agent", stand_in)
    module = load_module(path, "agent_module")
    assert issubclass(module.AgentExecutor, AgentExecutorBase)
    return module.AgentExecutor()


def run_group(executor, row, engine, processor, max_len, n):
    # OpenRLHF 0.11.2's SamplingParams: top_k -1 (all tokens) unless its generate kwargs say otherwise
    params = types.SimpleNamespace(max_tokens=32, logprobs=None, logit_bias=None, top_k=-1)

    async def group():
        return await asyncio.gather(*[executor.execute(row["prompt"], row["label"], params, max_len, processor, engine)
                                      for _ in range(n)])

    return asyncio.run(group())


@pytest.fixture(scope="module")
def rollout_result(orl, plan, rows, loaded):
    _, prepared = plan
    with pytest.MonkeyPatch.context() as monkeypatch:
        executor = agent_executor(prepared.files.agent, monkeypatch)
        engine = ScriptedEngine(loaded.processor, [COMPLETIONS[n] for n in COMPLETIONS])
        responses = run_group(executor, rows[0], engine, loaded.processor, prepared.max_len, 3)
    return engine, responses


def test_rollout_sends_vllm_the_video_with_its_metadata(orl, rows, rollout_result, loaded):
    from vr2.train.collate import sample_frames

    engine, _ = rollout_result
    label = orl.data.decode_label(rows[0]["label"])
    video = sample_frames(orl.data.sample_from_label(label), orl.data.settings_from_label(label))
    video_id = loaded.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert len(engine.requests) == 3
    ids, params, mm = engine.requests[0]
    assert ids.count(video_id) == 1 and loaded.processor.tokenizer.decode(ids) == rows[0]["prompt"]
    assert set(mm) == {"video"}
    frames, meta = mm["video"]
    assert (frames == video.frames).all() and frames.shape == (4, 112, 112, 3)
    assert meta == {"fps": video.sample_fps, "duration": video.duration, "total_num_frames": 4,
                    "frames_indices": [0, 1, 2, 3], "do_sample_frames": False}  # 4 frames at the rate they were taken
    sys.path.insert(0, str(VLLM_SRC))
    try:
        from vr2_vllm import video_input  # the vLLM eval plugin builds the same request
    finally:
        sys.path.remove(str(VLLM_SRC))
    assert video_input(video)[1] == meta
    assert params.max_tokens == 32 and params.top_k == 50  # grpo.top_k of the recipe, as the release sampled
    assert all(params.logit_bias[i] == -100.0 for i in (video_id, video_id - 1))  # vision tokens banned


def test_rollout_response_is_what_openrlhf_expects(orl, plan, rows, rollout_result, loaded):
    from vr2.train.data import load_samples

    recipe, _ = plan
    _, responses = rollout_result
    _, totals = vr2_rewards(recipe, list(COMPLETIONS.values()), load_samples(recipe)[0])
    video_id = loaded.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    texts = list(COMPLETIONS.values())
    seen = set()
    for response in responses:
        assert set(response) >= {"prompt", "label", "images", "mm_train_inputs", "observation_tokens", "action_ranges",
                                 "rollout_log_probs", "truncated", "reward", "scores", "extra_logs"}
        (start, end), = response["action_ranges"]
        tokens = response["observation_tokens"]
        assert tokens[:start].count(video_id) == 32 and end == len(tokens)
        completion = loaded.processor.tokenizer.decode(tokens[start:], skip_special_tokens=True)
        assert completion in texts  # each scripted reply, whichever completion reached vLLM first
        seen.add(completion)
        total = totals[texts.index(completion)]
        assert response["reward"] == pytest.approx(total) and response["scores"] == response["reward"]
        assert isinstance(response["reward"], float) and response["truncated"] is False
        assert all(isinstance(v, float) for v in response["extra_logs"].values())
        assert response["extra_logs"]["vr2/filled"] == 0.0 and response["extra_logs"]["vr2/vision_token_cut"] == 0.0
        mm = response["mm_train_inputs"]
        assert set(mm) == {"pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "image_grid_thw"}
        assert mm["video_grid_thw"].tolist() == [[2, 8, 8]] and mm["image_grid_thw"].shape == (0, 3)
    assert seen == set(texts)
    assert responses[0]["mm_train_inputs"] is responses[1]["mm_train_inputs"]  # one decode per group


def test_a_masked_completion_gets_the_group_neutral_reward(orl, smoke_dir, tmp_path, loaded, monkeypatch):
    plugins.register(UnsurePlugin(), name="unsure-test")
    try:
        recipe = smoke_recipe(smoke_dir, tmp_path / "run", "tar_gated", 'tar.consistency="unsure-test"',
                              "grpo.num_generations=3")
        prepared = orl.backend.prepare(recipe, orl.command.Launch(dry_run=True))
        row = json.loads(prepared.files.prompts.read_text().splitlines()[0])
        unsure = COMPLETIONS["consistent"].replace("So the answer", "UNSURE. So the answer")
        reward = load_module(prepared.files.reward, "reward_masked")
        alone = reward.reward_func([row["prompt"] + unsure], [row["prompt"]], [row["label"]])
        assert alone["extra_logs"]["vr2/masked"].tolist() == [1.0] and alone["extra_logs"]["vr2/tar_masked"].tolist() == [1.0]
        assert alone["rewards"].tolist() == [2.0]  # on its own: the parts that exist (accuracy + format)
        executor = agent_executor(prepared.files.agent, monkeypatch)
        engine = ScriptedEngine(loaded.processor, [COMPLETIONS["consistent"], unsure, COMPLETIONS["inconsistent"]])
        responses = run_group(executor, row, engine, loaded.processor, prepared.max_len, 3)
    finally:
        plugins.unregister("unsure-test")
    # the scripted replies go out in the order the completions reach vLLM; sort by what was filled
    filled = [r for r in responses if r["extra_logs"]["vr2/filled"] == 1.0]
    scored = sorted((r for r in responses if r["extra_logs"]["vr2/filled"] == 0.0), key=lambda r: r["reward"])
    assert len(filled) == 1 and filled[0]["extra_logs"]["vr2/masked"] == 1.0
    assert [r["reward"] for r in scored] == [2.0, 3.0]  # gate closed / open (accuracy + format + TAR 1)
    assert filled[0]["reward"] == pytest.approx(2.5)  # the mean of the group's scored completions
    rewards = [r["reward"] for r in responses]
    import torch

    group = torch.tensor(rewards)
    advantages = (group - group.mean()) / (group.std() + 1e-9)  # OpenRLHF's group_norm
    assert abs(advantages[responses.index(filled[0])].item()) < 1e-6


def test_group_fill_rules(orl):
    fill = orl.rollout.GroupFill(3, timeout_s=5)

    async def group(values):
        return await asyncio.gather(*[fill.settle("k", v) for v in values])

    assert asyncio.run(group([None, 1.0, 2.0])) == [(1.5, True), (1.0, False), (2.0, False)]
    assert asyncio.run(group([None, None, None])) == [(0.0, True)] * 3  # constant: neutral as well

    async def abandoned():
        waiting = asyncio.ensure_future(fill.settle("k", None))
        fill.abandon("k")
        fill.abandon("k")
        return await waiting

    assert asyncio.run(abandoned()) == (0.0, True)
    with pytest.raises(Vr2Error, match="n_samples_per_prompt"):
        asyncio.run(orl.rollout.GroupFill(2, timeout_s=0.05).settle("k", None))


def test_generated_vision_tokens_end_the_completion(orl):
    assert orl.rollout.cut_at_vision_token([5, 6, 99, 7], {99}) == ([5, 6], True)
    assert orl.rollout.cut_at_vision_token([5, 6], {99}) == ([5, 6], False)
    assert orl.rollout.collapse_video_tokens([1, 9, 9, 9, 2, 9, 9], 9) == [1, 9, 2, 9]


def test_a_different_expansion_by_vllm_stops_the_rollout(orl):
    prepared = orl.rollout.PreparedPrompt(prompt_ids=[1, 9, 9, 2], vllm_ids=[1, 9, 2], video=None,
                                          mm_train_inputs={}, video_tokens=2)
    orl.rollout.check_expansion([1, 9, 9, 2], prepared)
    orl.rollout.check_expansion([1, 9, 2], prepared)
    orl.rollout.check_expansion(None, prepared)
    with pytest.raises(Vr2Error, match="vLLM's prompt has 5 tokens, the processor's 4"):
        orl.rollout.check_expansion([1, 9, 9, 9, 2], prepared)


# --- the video in the training forward --------------------------------------------------------------


def openrlhf_style_log_probs(model, responses, mm_inputs):
    """OpenRLHF 0.11.2's path from rollout responses to action log-probs, restated: sequences right-padded,
    the action mask from `action_ranges` shifted by one, the batch's `mm_train_inputs` concatenated per key,
    token types rebuilt from the ids (video = 2) and passed as `mm_token_type_ids` only when
    `image_grid_thw` is among the inputs (else as `token_type_ids`), positions left to the model."""
    import torch

    width = max(len(r["observation_tokens"]) for r in responses)
    sequences = torch.zeros((len(responses), width), dtype=torch.long)
    attention = torch.zeros_like(sequences)
    action = torch.zeros_like(sequences, dtype=torch.bool)
    for row, response in enumerate(responses):
        tokens = response["observation_tokens"]
        sequences[row, :len(tokens)] = torch.tensor(tokens)
        attention[row, :len(tokens)] = 1
        for start, end in response["action_ranges"]:
            action[row, start:end] = True
    action = action[:, 1:]
    config = model.config
    token_types = (sequences == config.image_token_id).to(torch.int32)
    token_types[sequences == config.video_token_id] = 2
    key = "mm_token_type_ids" if "image_grid_thw" in mm_inputs else "token_type_ids"
    logits = model(sequences, attention_mask=attention, position_ids=None, **mm_inputs, **{key: token_types}).logits
    log_probs = logits[:, :-1].float().log_softmax(-1).gather(-1, sequences[:, 1:, None])[..., 0]
    return log_probs, action


def merged(responses):
    import torch

    keys = responses[0]["mm_train_inputs"].keys()
    return {key: torch.cat([r["mm_train_inputs"][key] for r in responses]) for key in keys}


def vr2_log_probs(model, loaded, orl, response):
    """vr2's own forward for one response (the TRL backend's: prompt encoded by vr2 + completion)."""
    import torch

    from vr2.model.prompts import training_prompt
    from vr2.train.collate import sample_frames
    from vr2.model.runtime import prepare_inputs

    label = orl.data.decode_label(response["label"])
    sample = orl.data.sample_from_label(label)
    inputs = prepare_inputs(loaded, sample_frames(sample, orl.data.settings_from_label(label)),
                            *training_prompt(sample, label["prompt_style"], "grpo"))
    (start, end), = response["action_ranges"]
    completion = torch.tensor([response["observation_tokens"][start:end]])
    sequence = torch.cat([inputs["input_ids"], completion], 1)
    types_ = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(completion)], 1)
    logits = model(input_ids=sequence, attention_mask=torch.ones_like(sequence), mm_token_type_ids=types_,
                   pixel_values_videos=inputs["pixel_values_videos"], video_grid_thw=inputs["video_grid_thw"],
                   second_per_grid_ts=inputs["second_per_grid_ts"]).logits
    return logits[0, :-1].float().log_softmax(-1).gather(-1, sequence[0, 1:, None])[:, 0][-(end - start):]


def test_the_training_forward_sees_the_video_exactly_as_vr2(orl, rollout_result, loaded):
    import torch

    _, responses = rollout_result
    model = loaded.model
    with torch.no_grad():
        log_probs, action = openrlhf_style_log_probs(model, responses, merged(responses))
        for row, response in enumerate(responses):
            ours = vr2_log_probs(model, loaded, orl, response)
            assert torch.allclose(log_probs[row][action[row]], ours, atol=1e-5)
        # Without the empty image grid the same forward silently builds other positions.
        bare = {k: v for k, v in merged(responses).items() if k != "image_grid_thw"}
        other, _ = openrlhf_style_log_probs(model, responses, bare)
        assert (other[action] - log_probs[action]).abs().max() > 1e-4


def test_the_training_forward_trains_an_unfrozen_vision_tower(orl, rollout_result, smoke_dir):
    from vr2.model.runtime import load_model

    _, responses = rollout_result
    model = load_model(str(smoke_dir / "model"), device="cpu", dtype="float32").model
    model.train()
    log_probs, action = openrlhf_style_log_probs(model, responses, merged(responses))
    log_probs[action].sum().backward()
    vision = [p.grad for name, p in model.named_parameters() if ".visual." in f".{name}"]
    assert vision and all(g is not None for g in vision) and sum(g.abs().sum().item() for g in vision) > 0


@pytest.mark.skipif(not HAS_OPENRLHF, reason="needs openrlhf 0.11.2 (a CUDA machine)")
def test_openrlhfs_own_actor_forward_sees_the_video(orl, rollout_result, loaded):  # pragma: no cover - GPU box
    import torch
    from openrlhf.models.actor import Actor
    from openrlhf.utils.vlm_utils import merge_mm_train_inputs

    _, responses = rollout_result
    actor = Actor.__new__(Actor)
    torch.nn.Module.__init__(actor)
    actor.model, actor.is_vlm, actor._vlm_config = loaded.model, True, loaded.model.config
    actor.packing_samples, actor.temperature = False, 1.0
    _, action = openrlhf_style_log_probs(loaded.model, responses, merged(responses))
    sequences = torch.zeros(action.shape[0], action.shape[1] + 1, dtype=torch.long)
    attention = torch.zeros_like(sequences)
    for row, response in enumerate(responses):
        sequences[row, :len(response["observation_tokens"])] = torch.tensor(response["observation_tokens"])
        attention[row, :len(response["observation_tokens"])] = 1
    mm = merge_mm_train_inputs([[r["mm_train_inputs"] for r in responses]], "cpu")
    with torch.no_grad():
        theirs = actor(sequences, action, attention, **mm)
        for row, response in enumerate(responses):
            assert torch.allclose(theirs[row][action[row]], vr2_log_probs(loaded.model, loaded, orl, response), atol=1e-5)


# --- the command line -------------------------------------------------------------------------------


def parse(argv):
    """{flag: [values]} of an OpenRLHF argv (after `python -m module`)."""
    flags, current = {}, None
    for arg in argv[3:]:
        if arg.startswith("--"):
            current = flags.setdefault(arg, [])
        else:
            current.append(arg)
    return flags


def test_paper_recipe_becomes_this_command(orl, tmp_path):
    recipe = load_recipe(REPO / "recipes" / "tar_gated.toml", [f'trainer.output_dir="{tmp_path / "run"}"'])
    orl.backend.check_recipe(recipe)
    files = orl.command.RunFiles.for_recipe(recipe)
    launch = orl.command.Launch(gpus_per_node=8, python="python3")
    argv = orl.command.build_command(recipe, files, launch, max_len=4800, resume=False)
    assert argv[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    flags = parse(argv)
    assert set(flags) <= orl.command.KNOWN_FLAGS
    expected = {
        "--actor.model_name_or_path": ["runs/sft/merged"],
        "--algo.advantage.estimator": ["group_norm"], "--actor.loss_agg_mode": ["seq-mean-token-mean"],
        "--rollout.n_samples_per_prompt": ["8"], "--algo.kl.init_coef": ["0.04"], "--algo.kl.use_loss": [],
        "--algo.kl.estimator": ["k3"], "--actor.adam.lr": ["1e-06"], "--actor.adam.weight_decay": ["0.01"],
        "--actor.lr_scheduler": ["cosine"], "--actor.lr_warmup_ratio": ["0.0"],
        "--rollout.max_new_tokens": ["1024"], "--rollout.temperature": ["0.9"], "--rollout.top_p": ["1.0"],
        "--rollout.batch_size": ["1"], "--train.batch_size": ["8"], "--train.micro_batch_size": ["1"],
        "--rollout.micro_batch_size": ["1"], "--train.max_epochs": ["1"], "--train.num_episodes": ["1"],
        "--ckpt.save_steps": ["100"], "--ckpt.save_hf": [], "--ckpt.path": [str(tmp_path / "run" / "openrlhf" / "ckpt")],
        "--ckpt.output_dir": [str(tmp_path / "run" / "final")], "--ds.zero_stage": ["3"], "--ds.param_dtype": ["bf16"],
        "--train.agent_func_path": [str(tmp_path / "run" / "openrlhf" / "agent.py")],
        "--data.prompt_dataset": [str(tmp_path / "run" / "openrlhf" / "prompts.jsonl")],
        "--data.input_key": ["prompt"], "--data.label_key": ["label"], "--data.max_len": ["4800"],
        "--actor.freeze_visual_encoder": [], "--actor.gradient_checkpointing_enable": [],
        "--actor.num_gpus_per_node": ["8"], "--ref.num_gpus_per_node": ["8"], "--vllm.num_engines": ["8"],
        "--train.colocate_all": [], "--train.seed": ["42"], "--ds.attn_implementation": ["sdpa"],
    }
    for flag, values in expected.items():
        assert flags.get(flag) == values, flag
    for absent in ("--ckpt.load_enable", "--data.max_samples", "--ds.packing_samples", "--reward.remote_url",
                   "--data.apply_chat_template", "--critic.model_name_or_path"):
        assert absent not in flags
    resumed = parse(orl.command.build_command(recipe, files, launch, max_len=4800, resume=True))
    assert resumed["--ckpt.load_enable"] == []
    text = orl.command.format_command(argv)
    assert shlex.split(text.replace("\\\n", " ")) == argv


@pytest.mark.parametrize("name", ["grpo", "grpo_tar", "tar_gated"])
def test_each_paper_recipe_becomes_exactly_these_flags(orl, tmp_path, name):
    """Every flag and value, nothing more: the release's sampler and optimizer (HF AdamW betas 0.9/0.999, eps
    1e-8, no clipping under its DeepSpeed configs); flag names as openrlhf 0.11.2's train_ppo_ray declares them
    (`--actor.adam.betas` takes two numbers, `--actor.max_norm` 0 turns DeepSpeed's gradient_clipping off)."""
    run = tmp_path / "run"
    recipe = load_recipe(REPO / "recipes" / f"{name}.toml", [f'trainer.output_dir="{run}"'])
    files = orl.command.RunFiles.for_recipe(recipe)
    argv = orl.command.build_command(recipe, files, orl.command.Launch(gpus_per_node=8, python="python3"),
                                     max_len=4800, resume=False)
    assert parse(argv) == {
        "--actor.model_name_or_path": ["runs/sft/merged"],
        "--actor.num_nodes": ["1"], "--actor.num_gpus_per_node": ["8"],
        "--ref.num_nodes": ["1"], "--ref.num_gpus_per_node": ["8"],
        "--vllm.num_engines": ["8"], "--vllm.tensor_parallel_size": ["1"], "--vllm.gpu_memory_utilization": ["0.6"],
        "--train.colocate_all": [], "--vllm.enable_sleep": [], "--ds.enable_sleep": [],
        "--train.agent_func_path": [str(run / "openrlhf" / "agent.py")],
        "--data.prompt_dataset": [str(run / "openrlhf" / "prompts.jsonl")],
        "--data.input_key": ["prompt"], "--data.label_key": ["label"], "--data.max_len": ["4800"],
        "--algo.advantage.estimator": ["group_norm"], "--actor.loss_agg_mode": ["seq-mean-token-mean"],
        "--rollout.n_samples_per_prompt": ["8"], "--rollout.max_new_tokens": ["1024"],
        "--rollout.temperature": ["0.9"], "--rollout.top_p": ["1.0"],
        "--rollout.batch_size": ["1"], "--rollout.micro_batch_size": ["1"],
        "--train.batch_size": ["8"], "--train.micro_batch_size": ["1"],
        "--train.max_epochs": ["1"], "--train.num_episodes": ["1"], "--train.seed": ["42"],
        "--algo.kl.init_coef": ["0.04"], "--algo.kl.use_loss": [], "--algo.kl.estimator": ["k3"],
        "--actor.adam.lr": ["1e-06"], "--actor.adam.weight_decay": ["0.01"],
        "--actor.adam.betas": ["0.9", "0.999"], "--actor.adam.eps": ["1e-08"], "--actor.max_norm": ["0.0"],
        "--actor.lr_scheduler": ["cosine"], "--actor.lr_warmup_ratio": ["0.0"],
        "--ds.zero_stage": ["3"], "--ds.param_dtype": ["bf16"], "--ds.attn_implementation": ["sdpa"],
        "--ckpt.path": [str(run / "openrlhf" / "ckpt")], "--ckpt.output_dir": [str(run / "final")],
        "--ckpt.save_steps": ["100"], "--ckpt.save_hf": [], "--logger.logging_steps": ["1"],
        "--actor.freeze_visual_encoder": [], "--actor.gradient_checkpointing_enable": [],
    }
    # top_k has no flag in 0.11.2 (its SamplingParams takes top_k from generate kwargs it never fills): the
    # run file carries it and the rollout sets it on every request (test_rollout_sends_vllm_the_video...).
    orl.backend.write_run_files(recipe, files)
    assert json.loads(files.run.read_text())["sampling"] == {"top_k": 50}
    assert orl.rollout.vllm_top_k(0) == -1 and orl.rollout.vllm_top_k(50) == 50


def test_recipe_variants_map_onto_flags(orl, tmp_path):
    zero3 = REPO / "recipes" / "deepspeed" / "zero3.json"
    recipe = load_recipe(REPO / "recipes" / "tar_gated.toml", [
        f'trainer.output_dir="{tmp_path}"', f'trainer.deepspeed="{zero3}"', "grpo.beta=0.0",
        'grpo.loss_type="dr_grpo"', "trainer.max_steps=30", "trainer.prompts_per_step=32",
        "trainer.completions_per_device=8", "grpo.num_generations=4", 'trainer.report_to="tensorboard"',
        "model.freeze_vision=false", "model.freeze_merger=false", 'trainer.precision="fp16"',
    ])
    files = orl.command.RunFiles.for_recipe(recipe)
    flags = parse(orl.command.build_command(recipe, files, orl.command.Launch(gpus_per_node=4, nodes=2),
                                            max_len=100, resume=False))
    assert flags["--ds.zero_stage"] == ["3"] and flags["--algo.kl.init_coef"] == ["0.0"]
    assert "--algo.kl.use_loss" not in flags and "--actor.freeze_visual_encoder" not in flags
    assert flags["--algo.advantage.estimator"] == ["dr_grpo"] and flags["--actor.loss_agg_mode"] == ["token-mean"]
    assert flags["--rollout.batch_size"] == ["32"] and flags["--train.batch_size"] == ["128"]  # 32 prompts x 4
    assert flags["--train.micro_batch_size"] == ["8"] and flags["--data.max_samples"] == ["960"]  # 30 steps x 32
    assert flags["--actor.num_nodes"] == ["2"] and flags["--vllm.num_engines"] == ["8"]
    assert flags["--logger.tensorboard_dir"] == [str(files.folder / "tensorboard")]
    assert flags["--ds.param_dtype"] == ["fp16"]


def test_extra_flags_are_checked(orl, tmp_path, monkeypatch):
    recipe = load_recipe(REPO / "recipes" / "tar_gated.toml", [f'trainer.output_dir="{tmp_path}"'])
    files = orl.command.RunFiles.for_recipe(recipe)
    monkeypatch.setenv("VR2_OPENRLHF_GPUS", "2")
    monkeypatch.setenv("VR2_OPENRLHF_ARGS", "--vllm.gpu_memory_utilization 0.4 --vllm.enforce_eager")
    launch = orl.command.Launch.from_env()
    argv = orl.command.build_command(recipe, files, launch, max_len=100, resume=False)
    assert argv[-3:] == ["--vllm.gpu_memory_utilization", "0.4", "--vllm.enforce_eager"]
    assert parse(argv)["--actor.num_gpus_per_node"] == ["2"]
    for bad, message in (("--vllm.gpu_memory_utilisation 0.4", "not an option of openrlhf 0.11.2"),
                         ("--ds.packing_samples", "set or ruled out by vr2-openrlhf"),
                         ("--eval.dataset e.jsonl", "set or ruled out by vr2-openrlhf"),
                         ("--reward.remote_url x.py", "set or ruled out by vr2-openrlhf")):
        monkeypatch.setenv("VR2_OPENRLHF_ARGS", bad)
        with pytest.raises(Vr2Error, match=message):
            orl.command.build_command(recipe, files, orl.command.Launch.from_env(), max_len=100, resume=False)
    monkeypatch.setenv("VR2_OPENRLHF_GPUS", "zero")
    with pytest.raises(Vr2Error, match="VR2_OPENRLHF_GPUS: expected a whole number"):
        orl.command.Launch.from_env()


def test_dry_run_command_prints_and_launches_nothing(orl, smoke_dir, tmp_path, capsys):
    code = orl.cli.main([str(REPO / "recipes" / "smoke" / "tar_gated.toml"), "--dry-run", "--gpus", "2",
                         "--set", f'model.name_or_path="{smoke_dir / "model"}"',
                         "--set", f'data.train_file="{smoke_dir / "grpo.json"}"',
                         "--set", f'data.video_dir="{smoke_dir / "videos"}"',
                         "--set", f'data.subtitles_dir="{smoke_dir / "subtitles"}"',
                         "--set", f'trainer.output_dir="{tmp_path / "run"}"',
                         "--set", "trainer.use_cpu=false", "--set", 'trainer.precision="auto"'])
    out = capsys.readouterr()
    assert code == 0 and out.out.startswith(sys.executable) and "--rollout.n_samples_per_prompt 2" in out.out
    assert "--actor.num_gpus_per_node 2" in out.out and "dry run" in out.err
    folder = tmp_path / "run" / "openrlhf"
    assert sorted(p.name for p in folder.iterdir()) == ["agent.py", "command.sh", "prompts.jsonl", "recipe.toml",
                                                        "reward.py", "run.json"]
    assert not (tmp_path / "run" / "final").exists()
    assert orl.cli.main([str(tmp_path / "missing.toml"), "--dry-run"]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_command_line_follows_vr2s_conventions(orl, capsys):
    """-h, --version, RECIPE first and -s/--set, as on `vr2` (tests/cli/test_conventions.py)."""
    p = orl.cli.parser()
    with pytest.raises(SystemExit) as done:
        p.parse_args(["-h"])
    assert done.value.code == 0 and "RECIPE" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        p.parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("vr2-openrlhf ")
    args = p.parse_args(["r.toml", "-s", "grpo.beta=0.0", "--set", "tar.tau=0.8"])
    assert args.recipe == "r.toml" and args.sets == ["grpo.beta=0.0", "tar.tau=0.8"]

def test_run_command_streams_and_fails_loudly(orl, tmp_path, capfd):
    log = tmp_path / "train.log"
    orl.backend.run_command([sys.executable, "-c", "print('step 1'); print('step 2')"], log)
    assert log.read_text() == "step 1\nstep 2\n" and "step 2" in capfd.readouterr().out
    with pytest.raises(Vr2Error, match="exited with code 3"):
        orl.backend.run_command([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], log)
    assert log.read_text().endswith("boom\n")


def test_plugin_imports_nothing_heavy_at_load(orl):
    import ast

    for name in ("__init__.py", "command.py", "data.py", "rewards.py", "rollout.py", "backend.py", "cli.py"):
        tree = ast.parse((PLUGIN_SRC / "vr2_openrlhf" / name).read_text())
        top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        modules = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
        modules += [node.module for node in top if isinstance(node, ast.ImportFrom) and node.module]
        assert not any(m.split(".")[0] in ("openrlhf", "vllm", "torch", "transformers", "ray") for m in modules), name
