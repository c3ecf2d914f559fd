"""Recipes: TOML files parsed into typed, validated config objects.

A recipe is data. Each `[section]` maps onto one dataclass below; every key has a type, a default
(the paper's setting) and, where it matters, allowed values or a range. Unknown keys and wrong
types are errors that name the file, the key and what is allowed. `key=value` overrides
(`tar.tau=0.8`) apply on top, as the command line gives them. A recipe may start from another
with `extends = "other.toml"` (path relative to the recipe); its own keys win.
"""

from __future__ import annotations

import errno
import math
import re
import tomllib
import typing
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vr2.errors import Vr2Error
from vr2.files import json_depth, read_text
from vr2.plugins.registry import components, is_builtin


# A judge or teacher reply longer than this is refused (a chat reply of a few thousand tokens is
# tens of kilobytes; a hostile server could send gigabytes, or a gzip bomb).
MAX_REPLY_BYTES = 1024 * 1024


def opt(default: Any, *, choices: tuple | None = None, min: float | None = None,
        max: float | None = None, help: str = "") -> Any:
    """A recipe key: its default plus what values are allowed."""
    meta = {"choices": choices, "min": min, "max": max, "help": help}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    name_or_path: str = opt("Qwen/Qwen2.5-VL-7B-Instruct", help="hub id or local folder")
    dtype: str = opt("auto", choices=("auto", "bfloat16", "float16", "float32"),
                     help="training: auto = float32 master weights (bf16 autocast on a GPU); bfloat16 here "
                     "trains pure-bf16 weights, which lose small updates")
    device: str = opt("auto", help="auto, cpu, cuda, cuda:1, ...")
    attn_implementation: str = opt("sdpa", choices=("sdpa", "eager", "flash_attention_2"))
    freeze_vision: bool = opt(True, help="freeze the vision tower")
    freeze_merger: bool = opt(True, help="freeze the vision-language merger")
    freeze_llm: bool = opt(False, help="freeze the language model")


@dataclass
class DataConfig:
    train_file: str = opt("", help="Video-R2 JSON array or vr2 JSONL")
    video_dir: str = opt("", help="folder the `video` paths are relative to")
    subtitles_dir: str = opt("", help="folder with <video stem>.srt files")
    check_videos: bool = opt(True, help="skip rows whose video file is missing or cannot be opened as a video "
                             "(each file's header is probed once at load)")
    limit: int = opt(0, min=0, help="use at most this many rows (0 = all)")
    num_workers: int = opt(0, min=0, help="processes decoding the next videos while the model trains (SFT and GRPO)")


@dataclass
class VideoConfig:
    fps: float = opt(2.0, min=0.01)
    max_frames: int = opt(128, min=1)
    min_pixels: int = opt(100_352, min=1)
    max_pixels: int = opt(151_200, min=1)
    timestamp_overlay: bool = opt(True, help="draw HH:MM:SS top-left on every frame")
    subtitles: bool = opt(True, help="draw SRT subtitles when a file exists")


class RewardsConfig(dict):
    """[rewards]: reward name -> weight (>= 0; 0 = off). The names are the reward registry's
    (`vr2_rewards` hook): a built-in reward weighs 1 unless the recipe says otherwise, a plugin's
    reward counts only once a recipe weights it. Unknown names are errors listing the known ones."""

    def __init__(self, weights: dict[str, float] | None = None):
        super().__init__(default_reward_weights() if weights is None else weights)


def reward_names() -> list[str]:
    """Every reward the registry knows (built-ins and loaded plugins)."""
    return list(components("vr2_rewards"))


def default_reward_weights() -> dict[str, float]:
    return {name: 1.0 for name, c in components("vr2_rewards").items() if is_builtin(c.plugin)}


# Sections that are open tables (any registered name -> a number) rather than fixed keys.
TABLES = {"rewards": reward_names}
REWARD_WEIGHT = field(default=0.0, metadata={"choices": None, "min": 0.0, "max": None, "help": "reward weight"})


@dataclass
class TarConfig:
    buffer_seconds: float = opt(2.0, min=0.0)
    tau: float = opt(0.75, min=-1.0, max=1.0, help="cosine similarity threshold")
    gate: bool = opt(True, help="TAR counts only when think and answer agree")
    matching: str = opt("optimal", choices=("optimal", "greedy"))
    extractor: str = opt("rule", help="claim extractor plugin name")
    embedder: str = opt("minilm", help="embedder plugin name")
    embedder_model: str = opt("", help="model folder for the embedder, if it takes one")
    embedder_device: str = opt("cpu", help="where the embedder runs: cpu (minilm through ONNX Runtime), cuda or "
                               "cuda:N (sentence-transformers on that GPU, as the release encoded)")
    consistency: str = opt("rule", help="consistency checker plugin name (the gate)")


@dataclass
class TrainerConfig:
    backend: str = opt("trl", help="trainer backend plugin name")
    output_dir: str = opt("runs/vr2")
    learning_rate: float = opt(1e-6, min=0.0)
    lr_scheduler: str = opt("cosine", choices=("cosine", "linear", "constant", "constant_with_warmup"))
    warmup_ratio: float = opt(0.0, min=0.0, max=1.0)
    weight_decay: float = opt(0.01, min=0.0)
    adam_beta1: float = opt(0.9, min=0.0, max=0.999999, help="AdamW beta1 (the release: HF's 0.9)")
    adam_beta2: float = opt(0.999, min=0.0, max=0.999999, help="AdamW beta2 (the release: HF's 0.999)")
    adam_epsilon: float = opt(1e-8, min=0.0, help="AdamW epsilon (the release: HF's 1e-8)")
    max_grad_norm: float = opt(0.0, min=0.0, help="clip the gradient's global norm to this (0 = off; the "
                               "release never clipped: its DeepSpeed configs set no gradient_clipping)")
    epochs: float = opt(1.0, min=0.0)
    max_steps: int = opt(-1, help="stop after this many steps (-1 = run the epochs)")
    prompts_per_step: int = opt(1, min=1, help="prompts per optimizer step, all devices together (SFT: samples); "
                                "GRPO trains on prompts_per_step x grpo.num_generations completions per step")
    completions_per_device: int = opt(1, min=1, help="completions (SFT: samples) in one forward pass on one device; "
                                      "gradient accumulation makes up the rest of the step")
    save_steps: int = opt(100, min=1)
    logging_steps: int = opt(1, min=1)
    seed: int = opt(42)
    precision: str = opt("auto", choices=("auto", "bf16", "fp16", "fp32"))
    gradient_checkpointing: bool = opt(True)
    deepspeed: str = opt("", help="DeepSpeed JSON config file; applies to every launch, one GPU included")
    deepspeed_stage: int = opt(0, min=0, max=3, help="built-in DeepSpeed ZeRO config (0 off, 2, 3), used only "
                               "when launched on several GPUs (a single process trains without DeepSpeed)")
    use_cpu: bool = opt(False)
    report_to: str = opt("none", help="experiment tracker for the trainer's logs: none, tensorboard, wandb, ...")


@dataclass
class LoraConfig:
    enabled: bool = opt(False)
    r: int = opt(64, min=1)
    alpha: int = opt(64, min=1)
    dropout: float = opt(0.05, min=0.0, max=1.0)
    target_modules: list[str] = opt(["q_proj", "k_proj", "v_proj", "o_proj",
                                     "gate_proj", "up_proj", "down_proj"])
    merge: bool = opt(True, help="merge the adapter into a full checkpoint at the end")


@dataclass
class GrpoConfig:
    num_generations: int = opt(8, min=2)
    beta: float = opt(0.04, min=0.0, help="KL coefficient")
    max_completion_length: int = opt(1024, min=1)
    temperature: float = opt(0.9, min=0.0)
    top_p: float = opt(1.0, min=0.0, max=1.0)
    top_k: int = opt(50, min=0, help="sample from the k most likely tokens (0 = all); the release uses 50")
    loss_type: str = opt("grpo", choices=("grpo", "dapo", "dr_grpo", "bnpo"))


@dataclass
class SftConfig:
    max_length: int = opt(0, min=0, help="truncate sequences to this many tokens (0 = no limit)")


@dataclass
class AccuracyConfig:
    rules: str = opt("vr2", choices=("vr2", "release"),
                     help="vr2 = by the row's answer type and options, the last answer block (docs/method.md"
                     "#accuracy-by-answer-type); release = the release's reward code as written: the first "
                     "lower-case answer block, the type guessed from the gold text, first-letter choices "
                     "(vr2.scoring.release_rewards); training, vr2 score and vr2 eval's accuracy follow it")
    regression: str = opt("release", choices=("release", "mra"),
                          help="how the accuracy reward scores regression answers: release = the release's "
                          "clip(1 - |pred - gold| / |gold|, 0, 1) (7 vs 10: 0.7); mra = VSIBench's mean relative "
                          "accuracy (0.5), which vr2 eval always uses under rules vr2")

    def __post_init__(self) -> None:
        if self.rules == "release" and self.regression != "release":
            raise Vr2Error(f"accuracy.regression = \"{self.regression}\" needs accuracy.rules = \"vr2\" "
                           "(the release's rules score regression by the release's formula)")


@dataclass
class FormatConfig:
    rules: str = opt("vr2", choices=("vr2", "release"),
                     help="the format reward: vr2 = exactly one think block then one answer block, whitespace "
                     "allowed around them; release = the release's full-match pattern (the text starts with the "
                     "think tag and ends with the closing answer tag; extra blocks inside pass)")


@dataclass
class PromptConfig:
    style: str = opt("release", choices=("release", "vr2"),
                     help="release: the row's own human turn verbatim under \"You are a helpful assistant.\" "
                     "(what the release trained on; evaluate with protocol paper); vr2: vr2's system prompt, "
                     "question, options and think instruction (evaluate with protocol vr2)")


@dataclass
class EvalConfig:
    benchmarks: list[str] = opt([], help="benchmark names (vr2 eval --list)")
    data_dir: str = opt("", help="folder with one sub-folder of data per benchmark")
    video_dir: str = opt("", help="folder with one sub-folder of videos per benchmark")
    output_dir: str = opt("runs/eval")
    mode: str = opt("think", choices=("think", "direct"))
    protocol: str = opt("vr2", choices=("paper", "vr2"),
                        help="paper: the Video-R2 release's evaluation (no overlays, its frames, prompts "
                        "and lengths); vr2: vr2's own (training overlays, vr2's prompt)")
    release_tasks: str = opt("", help="protocol paper: the release's lmms-eval task folder, "
                             "<Video-R2>/eval/lmms-eval/lmms_eval/tasks (else $VR2_RELEASE_TASKS)")
    max_new_tokens: int = opt(1024, min=1)
    temperature: float = opt(0.0, min=0.0)
    batch_size: int = opt(1, min=1)
    limit: int = opt(0, min=0, help="samples per benchmark (0 = all)")
    vas_attn: bool = opt(True, help="compute attention VAS (one extra forward per sample)")
    engine: str = opt("transformers", help="generation engine plugin: transformers, vllm (pip install ./plugins/vr2-vllm)")
    decode_workers: int = opt(2, min=0, help="processes decoding the next samples' videos during generation (0 = none)")


@dataclass
class JudgeConfig:
    """`[judge]`: the LLM judge (VAS-judge, the `llm` claim extractor and consistency checker).

    The one judge settings type: recipes, the VR2_JUDGE_* environment and the curate teacher all
    build one, and `vr2.judge.client.make_judge` turns it into a judge. An empty `url` means the
    recipe names no judge. Requests go to `{url}/chat/completions`; retry k (k >= 1) waits
    `backoff * 2**(k-1)` seconds.
    """

    backend: str = opt("openai", help="judge plugin: openai (any OpenAI-compatible endpoint)")
    url: str = opt("", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    model: str = opt("")
    api_key_env: str = opt("OPENAI_API_KEY", help="variable holding the key: *_API_KEY or listed in "
                           "$VR2_JUDGE_KEY_ENVS ('' = send no key)")
    cache_dir: str = opt("", help="reply cache folder ('' = no cache)")
    timeout: float = opt(60.0, min=0.1, help="seconds per request, the whole of it (connect, send, reply)")
    retries: int = opt(3, min=0, help="extra attempts after a timeout, refused connection, 429 or 5xx")
    max_reply_bytes: int = opt(MAX_REPLY_BYTES, min=1024, help="a longer reply (after decompression) is a failure")
    backoff: float = opt(1.0, min=0.0, help="seconds before the first retry; doubles each time")
    seed: int = opt(0)
    temperature: float = opt(0.0, min=0.0)
    max_tokens: int = opt(512, min=1)

    def __post_init__(self) -> None:
        # Built in code as well (environment, curate teacher, tests): the loader's checks apply too.
        hints = typing.get_type_hints(JudgeConfig)
        for f in fields(self):
            setattr(self, f.name, _check_value(getattr(self, f.name), hints[f.name], f, f"judge.{f.name}"))
        if self.url and not self.url.startswith(("http://", "https://")):
            raise Vr2Error(f"judge.url: must start with http:// or https://, got '{self.url}'")

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

    @property
    def base_url(self) -> str:
        """The API root the openai client is given (it appends `/chat/completions`)."""
        return self.endpoint.removesuffix("/chat/completions")


@dataclass
class CurateConfig:
    """`vr2 curate`: which sources, which teacher, which filters (see vr2.curate.pipeline)."""

    sources: list[str] = opt([], help="KIND=FILE or KIND=FILE=VIDEO_SUBDIR; kinds: llava_video, nextqa, "
                             "activitynet_qa, perception_test, clevrer, jsonl")
    video_dir: str = opt("", help="root folder of every source's videos; output paths are relative to it")
    subtitles_dir: str = opt("", help="folder with SRT files (<video path>.srt or <video stem>.srt)")
    output_dir: str = opt("runs/curate")
    min_duration: float = opt(0.0, min=0.0, help="drop videos shorter than this (seconds)")
    max_duration: float = opt(0.0, min=0.0, help="drop videos longer than this (seconds; 0 = no limit)")
    workers: int = opt(0, min=0, help="processes probing and sampling videos (0 = one per CPU)")
    teacher: str = opt("openai", help="teacher plugin (vr2_teachers); built-in: openai")
    teacher_url: str | list[str] = opt("", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1, or a "
                                       "list of them serving one model (each call goes to the least busy)")
    teacher_model: str = opt("")
    teacher_api_key_env: str = opt("OPENAI_API_KEY")
    teacher_cache_dir: str = opt("", help="reply cache (default: <output_dir>/teacher-cache)")
    temperature: float = opt(0.0, min=0.0)
    seed: int = opt(0)
    max_tokens: int = opt(2048, min=1)
    concurrency: int = opt(8, min=1, help="teacher calls in flight at once")
    retries: int = opt(3, min=0)
    backoff: float = opt(1.0, min=0.0, help="seconds before the first retry; doubles each time")
    timeout: float = opt(300.0, min=0.1, help="seconds per teacher request, the whole of it")
    max_reply_bytes: int = opt(MAX_REPLY_BYTES, min=1024, help="a longer teacher reply is a failed call")
    image_width: int = opt(448, min=28, help="frames are sent to the teacher at most this wide")
    min_claims: int = opt(2, min=0, help="verify: a trace must cite at least this many times")
    min_tar: float = opt(0.5, min=0.0, max=1.0, help="verify: TAR of the trace against its own grounding")
    min_graded_accuracy: float = opt(0.5, min=0.0, max=1.0,
                                     help="verify: accuracy needed for free_form/ocr/regression answers")
    rank: str = opt("judge", choices=("judge", "pass_rate", "none"))
    pass_rate_k: int = opt(4, min=1, help="rank=pass_rate: answers of the base model ([model]) per sample")
    pass_rate_temperature: float = opt(1.0, min=0.0)
    min_difficulty: float = opt(0.0, min=0.0, max=1.0, help="keep samples with difficulty >= this")
    max_difficulty: float = opt(1.0, min=0.0, max=1.0, help="keep samples with difficulty <= this")
    max_samples: int = opt(0, min=0, help="keep at most this many after ranking, hardest first (0 = all)")
    sft_fraction: float = opt(0.7, min=0.0, max=1.0)
    grpo_end: str = opt("hard", choices=("hard", "easy", "random"),
                        help="which part of each source's difficulty order goes to GRPO")
    split_seed: int = opt(42)
    tokenizer: str = opt("", help="tokenizer folder for reasoning lengths (default: [model] name_or_path)")
    choice_answer: str = opt("letter_and_text", choices=("letter_and_text", "letter"),
                             help="a multiple-choice <answer>: 'B. its text' (as the released data) or 'B'")
    clevrer_multi: str = opt("per_choice", choices=("per_choice", "skip"),
                             help="CLEVRER choice questions with several correct choices: one yes/no "
                             "question per choice, or skip and count them")


@dataclass
class Recipe:
    name: str = ""
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    rewards: RewardsConfig = field(default_factory=RewardsConfig)
    accuracy: AccuracyConfig = field(default_factory=AccuracyConfig)
    format: FormatConfig = field(default_factory=FormatConfig)
    tar: TarConfig = field(default_factory=TarConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    grpo: GrpoConfig = field(default_factory=GrpoConfig)
    sft: SftConfig = field(default_factory=SftConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    curate: CurateConfig = field(default_factory=CurateConfig)
    source: str = field(default="", metadata={"internal": True})


TOP_LEVEL = ("name", "description", "extends")
MAX_EXTENDS_DEPTH = 16  # a chain of `extends` longer than this is an error, not a deep recursion
MAX_TOML_DEPTH = 16  # tables and arrays nested deeper than this are no recipe (it has 3 levels)
SECTIONS = {f.name: f.default_factory for f in fields(Recipe) if f.default_factory is not MISSING}


def load_recipe(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a recipe (or start from the defaults) and apply `section.key=value` overrides."""
    raw, origin = ({}, {}) if path is None else _read_with_parents(Path(path), [])
    for item in overrides:
        section, key, value = parse_override(item)
        raw.setdefault(section, {})[key] = value
        origin[(section, key)] = f"override '{item}'"
    return _build(raw, origin, str(path or "defaults"))


def _read_toml(path: Path) -> dict:
    text = read_text(path, "recipe file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Vr2Error(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        data = None
    if data is None or json_depth(data) > MAX_TOML_DEPTH:  # a recipe is a few tables deep
        raise Vr2Error(f"{path}: TOML nested too deeply (more than {MAX_TOML_DEPTH} levels)")
    return data


def _read_with_parents(path: Path, chain: list[Path]) -> tuple[dict, dict]:
    """The recipe's keys over those of the recipe it extends, with where each key came from."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError up to 3.12, ELOOP after
        if isinstance(exc, OSError) and exc.errno != errno.ELOOP:
            raise Vr2Error(f"{path}: cannot read recipe file ({exc.strerror or exc})") from None
        raise Vr2Error(f"{path}: a symbolic link that loops back to itself, not a recipe file") from None
    if resolved in chain:
        raise Vr2Error(f"{path}: `extends` loops back to itself")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise Vr2Error(f"{chain[0]}: `extends` chain is deeper than {MAX_EXTENDS_DEPTH} recipes "
                       f"(stopped at {path})")
    chain.append(resolved)
    data = _read_toml(path)
    _check_keys(data, str(path))
    raw: dict = {}
    origin: dict = {}
    if "extends" in data:
        if not isinstance(data["extends"], str):
            raise Vr2Error(f"{path}: `extends` must be a file path string")
        raw, origin = _read_with_parents(path.parent / data["extends"], chain)
    for key, value in data.items():
        if key == "extends":
            continue
        if key in SECTIONS:
            raw.setdefault(key, {}).update(value)
            origin.update({(key, k): str(path) for k in value})
        else:
            raw[key] = value
            origin[(key,)] = str(path)
    return raw, origin


def _check_keys(data: dict, source: str) -> None:
    allowed_top = (*TOP_LEVEL, *SECTIONS)
    for key, value in data.items():
        if key not in allowed_top:
            raise Vr2Error(f"{source}: unknown key '{key}' (allowed: {', '.join(allowed_top)})")
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise Vr2Error(f"{source}: '{key}' must be a table [{key}]")
            names = section_keys(key)
            for sub in value:
                if sub not in names:
                    raise Vr2Error(
                        f"{source}: unknown key '{key}.{sub}' (allowed in [{key}]: {', '.join(names)})"
                    )


def section_keys(section: str) -> list[str]:
    """The keys a section allows: a dataclass's fields, or a table's registered names."""
    if section in TABLES:
        return TABLES[section]()
    return [f.name for f in fields(SECTIONS[section]())]


def parse_override(item: str) -> tuple[str, str, Any]:
    """`section.key=value` -> (section, key, value); the value is read as TOML, else as text."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise Vr2Error(f"override '{item}': expected section.key=value, e.g. tar.tau=0.8")
    target, text = item.split("=", 1)
    section, key = (part.strip() for part in target.split(".", 1))
    _check_keys({section: {key: None}}, f"override '{item}'")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    except RecursionError:
        value = None
    if value is None or json_depth(value) > MAX_TOML_DEPTH:
        raise Vr2Error(f"override '{target}=...': TOML nested too deeply (more than {MAX_TOML_DEPTH} levels)")
    return section, key, value


def _build(raw: dict, origin: dict, source: str) -> Recipe:
    sections = {}
    for name, factory in SECTIONS.items():
        if name in TABLES:
            sections[name] = _build_table(name, factory, raw.get(name, {}), origin, source)
            continue
        cls = type(factory())
        values = raw.get(name, {})
        hints = typing.get_type_hints(cls)
        checked = {}
        for f in fields(cls):
            if f.name in values:
                where = origin.get((name, f.name), source)
                checked[f.name] = _check_value(values[f.name], hints[f.name], f, f"{where}: {name}.{f.name}")
        try:
            sections[name] = cls(**checked)
        except Vr2Error as exc:  # a check across keys (e.g. [judge] url): name the file
            raise Vr2Error(f"{source}: {exc}") from None
    top = {k: str(raw[k]) for k in ("name", "description") if k in raw}
    return Recipe(**top, **sections, source=source)


def _build_table(name: str, factory, values: dict, origin: dict, source: str):
    """A name -> weight table: the defaults, then the recipe's entries in the recipe's order."""
    checked = {key: _check_value(value, float, REWARD_WEIGHT, f"{origin.get((name, key), source)}: {name}.{key}")
               for key, value in values.items()}
    return factory({**factory(), **checked})


def _check_value(value: Any, kind: Any, f, where: str) -> Any:
    meta = f.metadata
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        # NaN passes every range check below (nan < lo is False): refuse it and inf here.
        if ok and not math.isfinite(value):
            raise Vr2Error(f"{where} must be a finite number, got {value!r}")
    elif kind is str:
        ok = isinstance(value, str)
    elif kind == (str | list[str]):
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    else:  # list[str]
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not ok:
        raise Vr2Error(f"{where} must be {_type_name(kind)}, got {value!r}")
    if meta.get("choices") and value not in meta["choices"]:
        raise Vr2Error(f"{where} must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta.get("min") is not None and value < meta["min"]:
        raise Vr2Error(f"{where} must be >= {meta['min']}, got {value!r}")
    if meta.get("max") is not None and value > meta["max"]:
        raise Vr2Error(f"{where} must be <= {meta['max']}, got {value!r}")
    return value


def _type_name(kind: Any) -> str:
    if kind == (str | list[str]):
        return "a string or a list of strings"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, "a list of strings")


def recipe_to_dict(recipe: Recipe) -> dict:
    """The recipe as plain data (for saving next to a run's outputs)."""
    out: dict[str, Any] = {"name": recipe.name, "description": recipe.description}
    for name in SECTIONS:
        section = getattr(recipe, name)
        out[name] = dict(section) if name in TABLES else section_dict(section)
    return out


def section_dict(section: Any) -> dict:
    """One recipe section's keys and values (shallow: the values themselves)."""
    return {f.name: getattr(section, f.name) for f in fields(section)}


def with_changes(recipe: Recipe, section: str, **changes: Any) -> Recipe:
    """A copy of the recipe with some keys of one section changed (for code, not users)."""
    return replace(recipe, **{section: replace(getattr(recipe, section), **changes)})


# `scheme://user:password@host`: the part before the @ of the authority is a credential.
_URL_CREDENTIALS = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/?#\s@]*@")


def redact_url(text: str) -> str:
    """`text` (a URL, or any text holding URLs) with the user and password of each URL hidden."""
    return _URL_CREDENTIALS.sub(r"\1[redacted]@", text)


def redact_urls(value: str | list[str]) -> str | list[str]:
    """`redact_url` of a URL or of each URL in a list (`curate.teacher_url` may be either)."""
    return [redact_url(u) for u in value] if isinstance(value, list) else redact_url(value)


def dump_toml(recipe: Recipe) -> str:
    """The resolved recipe as TOML text (every key, defaults included; credentials in URLs hidden,
    so a saved recipe never holds a password)."""
    data = recipe_to_dict(recipe)
    data["judge"]["url"] = redact_url(data["judge"]["url"])
    data["curate"]["teacher_url"] = redact_urls(data["curate"]["teacher_url"])
    lines = [f"name = {_toml_value(data.pop('name'))}",
             f"description = {_toml_value(data.pop('description'))}"]
    for section, values in data.items():
        lines.append(f"\n[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)  # a JSON string is a valid TOML basic string
