"""One prepared GPU check: vr2's training, eval and reward paths measured on one GPU in minutes.

Sections, each through vr2's own code (recipes, `vr2.train.trl_backend`, the eval engine's functions,
`bench_tar.measure`), each in a process of its own so that its GPU memory is gone when the next starts:

- grpo: two optimizer steps of `recipes/tar_gated.toml` (`build_grpo_trainer`, vr2's VideoGRPOTrainer on
  TRL) on a random-init Qwen2.5-VL-3B-shaped model with the recipe's precision on one GPU (float32 master
  weights, bf16 autocast), 32 frames at <= 151,200 px, 8 generations of 1,024 new tokens (the recipe's
  maximum; a random model rarely ends a completion early). Each step's time is split into generation,
  log-prob forwards (the reference model; no grad), loss forwards, backward, optimizer and rewards; peak
  memory; whether the trainable weights moved and the frozen ones did not.
  Why 3B: a 7B (8.29B parameters, 7.62B trained) needs 16 bytes per trained parameter for float32
  weights, gradients and AdamW's two moments, plus TRL's float32 reference model: ~147 GiB before any
  activation (161 with autocast's bf16 weight copies), more than one 80 GB card holds (the release trained
  on 8 GPUs with ZeRO-3). The 3B needs ~62 GiB of the same (68 with the copies), so it is the largest
  Qwen2.5-VL size that fits (`memory_estimate` below). `--grpo-set KEY=VALUE` changes the GRPO recipe
  for a rerun (e.g. grpo.beta=0.0: no reference model, 14 GiB less).
- sft: LoRA steps of `recipes/sft.toml` (`build_sft_trainer`) on a random-init 7B-shaped model at 128
  frames (1 fps, 130 s video): time per sample and per optimizer step, peak memory.
- eval: generation under the `paper` protocol (`recipes/eval/_protocol.toml`: 128 frames, greedy, 1,024
  new tokens) with the engine's model loading, `generate_batch` and `vas_attn`, batch 1 and batch 8:
  tokens/s, videos/min, and the share `vas_attn` adds.
- tar: `bench_tar.measure` (vr2 against the release's loop) with both encoders on the GPU, on a random-init
  model of all-MiniLM-L6-v2's exact configuration.

Nothing is downloaded: the models are random-init (vr2's tiny tokenizer and processor, the real sizes and
vocabulary), the videos are synthesised (`vr2.devtools.synthetic`). Writes <out>/gpu_check.json and
<out>/gpu_check.txt (the printed table); every figure is listed under the device, dtype and sizes it was
measured with. `--budget-s` bounds the whole run: a section starts only with enough time left, and one
still running at the deadline is stopped; what it had written stays in the report.

GPU box:  bash benchmarks/gpu_check.sh            (installs the carried wheels; see BENCHMARKS.md "GPU check")
CPU:      PYTHONPATH=src python benchmarks/gpu_check.py --tiny --out runs/gpu-check-tiny   (tiny model, seconds)
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
SECTIONS = ("tar", "grpo", "sft", "eval")
# Seconds a section needs to be worth starting (setup included; H100 estimates, tiny on two CPU cores).
NEEDS_S = {"tar": 15, "grpo": 90, "sft": 60, "eval": 60}
TINY_NEEDS_S = {"tar": 5, "grpo": 10, "sft": 10, "eval": 10}
RESERVE_S = 5  # kept back from the budget for writing the report

# Qwen2.5-VL's released sizes (their config.json). The vision tower is the same in both.
VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, patch_size=14,
              spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2, window_size=112,
              fullatt_block_indexes=[7, 15, 23, 31], hidden_act="silu")
TEXT = dict(max_position_embeddings=128000, rms_norm_eps=1e-6, hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]})
SIZES = {
    "3b": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
               num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}
GIB = 2**30
CARD_GIB = 79.0  # an 80 GB H100 as PyTorch sees it

# all-MiniLM-L6-v2's config.json (the fields that shape the network; tests compare it with the real one).
MINILM_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522, "hidden_size": 384,
    "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
    "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    "position_embedding_type": "absolute", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
}
MINILM_MAX_SEQ_LENGTH = 256
MINILM_SPECIALS = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}

# A question of benchmark shape, in our own words (the release's prompt words are not needed to time it).
QUESTION = ("Question: What does the person do right after the door opens?\nOptions:\n(A) sits down\n"
            "(B) picks up the cup\n(C) waves at the camera\n(D) leaves the room\n"
            "Reason step by step about what happens and when, citing the times you use, "
            "then give the letter of the answer.")
REASONING = "At 00:01:05 the person picks up the blue cup and then walks to the door. "


# --------------------------------------------------------------------------- settings


@dataclass
class Plan:
    """What every section runs with; --tiny swaps the sizes for the tiny model on the CPU."""

    tiny: bool
    work: str
    seed: int = 0
    grpo_size: str = "3b"
    sft_size: str = "7b"
    eval_size: str = "7b"
    new_tokens: int = 1024  # GRPO completions (the recipe's max_completion_length)
    generations: int = 8
    eval_tokens: int = 0  # 0: the paper protocol's value
    eval_batches: list[int] = field(default_factory=lambda: [1, 8])
    sft_accumulation: int = 4  # samples per SFT optimizer step here (the recipe's 32 is extrapolated)
    tar_repeats: int = 3
    tar_batch: tuple[int, int] = (8, 8)  # prompts x generations: one GRPO step of the release
    video_seconds: float = 130.0  # 128 frames at SFT's 1 fps
    video_fps: int = 2
    video_size: tuple[int, int] = (640, 480)  # sampled to 448x336 = 150,528 px, 192 video tokens per 2 frames
    workers: int = -1  # data.num_workers; -1 keeps the recipe's
    video_overrides: list[str] = field(default_factory=list)
    grpo_overrides: list[str] = field(default_factory=list)
    train_overrides: list[str] = field(default_factory=list)
    eval_overrides: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "Plan":
        plan = cls(tiny=args.tiny, work=str(args.work), seed=args.seed)
        if args.tiny:
            plan.grpo_size = plan.sft_size = plan.eval_size = "tiny"
            plan.new_tokens, plan.generations, plan.eval_tokens = 16, 4, 16
            plan.sft_accumulation, plan.tar_repeats, plan.workers, plan.tar_batch = 2, 1, 0, (2, 2)
            plan.video_seconds, plan.video_size = 10.0, (128, 96)
            plan.video_overrides = ["video.max_frames=8", "video.min_pixels=3136", "video.max_pixels=12544"]
            # The GPU's precision on the CPU: float32 master weights under bf16 autocast, bf16 for eval.
            plan.train_overrides = ['trainer.precision="bf16"']
            plan.eval_overrides = ['model.dtype="bfloat16"']
        plan.grpo_overrides = list(args.grpo_set or [])
        for name in ("grpo_size", "sft_size", "eval_size", "new_tokens", "eval_tokens", "tar_repeats"):
            value = getattr(args, name, None)
            if value is not None:
                setattr(plan, name, value)
        return plan


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for gpu_check.json and gpu_check.txt")
    parser.add_argument("--budget-s", type=float, default=450.0, help="stop everything after this many seconds")
    parser.add_argument("--tiny", action="store_true", help="the tiny model on the CPU, every section in seconds")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, in order ({','.join(SECTIONS)})")
    parser.add_argument("--work", default="/tmp/vr2-gpu-check",
                        help="scratch folder for the random checkpoints and videos (reused by a rerun)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grpo-size", choices=["tiny", *SIZES])
    parser.add_argument("--sft-size", choices=["tiny", *SIZES])
    parser.add_argument("--eval-size", choices=["tiny", *SIZES])
    parser.add_argument("--new-tokens", type=int, help="GRPO new tokens per completion (default 1024)")
    parser.add_argument("--eval-tokens", type=int, help="eval new tokens (default: the paper protocol's)")
    parser.add_argument("--tar-repeats", type=int)
    parser.add_argument("--grpo-set", action="append", metavar="KEY=VALUE",
                        help="a recipe override for the GRPO section (repeatable), e.g. grpo.beta=0.0")
    # Used by the check itself to start one section in a process of its own.
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.section and not args.out:
        parser.error("--out is required")
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    return args


# --------------------------------------------------------------------------- the parent


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.section:
        return run_section(args)
    return orchestrate(args)


def orchestrate(args, command=None) -> int:
    """Run the sections one by one in child processes within the budget; write the report."""
    from vr2.files import dumps_json, write_atomic

    started = time.time()
    deadline = started + args.budget_s - RESERVE_S
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    plan = Plan.from_args(args)
    plan_file = work / "plan.json"
    write_atomic(plan_file, dumps_json(asdict(plan)))
    report = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tiny": args.tiny,
              "budget_s": args.budget_s, "command": " ".join(sys.argv), "plan": asdict(plan),
              "environment": None, "sections": {}}
    needs = TINY_NEEDS_S if args.tiny else NEEDS_S
    for name in args.only.split(","):
        left = deadline - time.time()
        if left < needs[name]:
            section = {"status": "skipped", "reason": f"budget: {left:.0f} s left, needs ~{needs[name]} s"}
        else:
            print(f"== {name} ({left:.0f} s of the budget left)", flush=True)
            section = run_one(name, (command or section_command)(name, plan_file, work / f"{name}.json", deadline),
                              work / f"{name}.json", left, args.budget_s)
        report["environment"] = report["environment"] or section.pop("environment", None)
        section.pop("environment", None)
        report["sections"][name] = section
        write_atomic(out / "gpu_check.json", dumps_json(report, indent=1))
    report["total_s"] = round(time.time() - started, 1)
    text = table(report)
    print(text, flush=True)
    write_atomic(out / "gpu_check.json", dumps_json(report, indent=1))
    write_atomic(out / "gpu_check.txt", text + "\n")
    return 1 if any(s.get("status") == "error" for s in report["sections"].values()) else 0


def run_one(name: str, command: list[str], result: Path, left: float, budget_s: float) -> dict:
    """One section in its own process, stopped at the deadline; what it wrote, with how it ended."""
    result.unlink(missing_ok=True)
    begun = time.time()
    code = run_child(command, timeout=left)
    section = read_result(result)
    section["wall_s"] = round(time.time() - begun, 1)
    if code is None:
        section["status"] = "stopped"
        section["reason"] = f"budget: still running at the deadline ({budget_s:g} s); kept what it had written"
    elif code != 0 and section.get("status") in (None, "running"):
        section["status"] = "error"
        section.setdefault("error", f"exit code {code}")
    return section


def section_command(name: str, plan_file: Path, result: Path, deadline: float) -> list[str]:
    return [sys.executable, "-u", str(Path(__file__).resolve()), "--section", name, "--plan", str(plan_file),
            "--result", str(result), "--deadline", repr(deadline)]


def child_env() -> dict:
    env = dict(os.environ)
    # The repository's own vr2 first; bench_tar and release_loop import from benchmarks/.
    paths = [str(REPO / "src"), str(BENCHMARKS), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.setdefault("HF_HUB_OFFLINE", "1")  # the GPU box has no network: fail at once, never wait on one
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_child(command: list[str], timeout: float) -> int | None:
    """The child's exit code, or None when it was still running after `timeout` seconds and was
    stopped (its whole process group: DataLoader workers included)."""
    process = subprocess.Popen(command, env=child_env(), start_new_session=True)
    try:
        return process.wait(timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        stop_group(process)
        return None


def stop_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def read_result(path: Path) -> dict:
    from vr2.errors import Vr2Error
    from vr2.files import loads_json, read_text

    if not path.is_file():
        return {"status": "error", "error": "the section wrote nothing"}
    try:
        return loads_json(read_text(path, "section result"), str(path))
    except Vr2Error as exc:
        return {"status": "error", "error": str(exc)}


def table(report: dict) -> str:
    """The report for a person: per section a line naming device, dtype and sizes, then its figures."""
    env = report.get("environment") or {}
    versions = ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items() if k in
                         ("torch", "transformers", "trl", "peft", "sentence-transformers"))
    lines = [f"vr2 GPU check, {report['started']}: {env.get('device', '?')}; {versions}",
             f"budget {report['budget_s']:g} s, total {report.get('total_s', 0):g} s"]
    for name, section in report["sections"].items():
        status = section.get("status", "?")
        lines.append("")
        lines.append(f"[{name}] {status}" + (f": {section['reason']}" if section.get("reason") else "")
                     + (f": {section['error']}" if section.get("error") else ""))
        for key, label in (("device", "device"), ("dtype", "dtype"), ("sizes", "sizes"), ("size_choice", "why")):
            if section.get(key):
                lines.append(f"  {label:7s} {section[key]}")
        for figure in section.get("figures", []):
            lines.append(f"  {figure['name']:60s} {format_value(figure['value']):>10s} {figure['unit']}")
    return "\n".join(lines)


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


# --------------------------------------------------------------------------- the child


class Record:
    """A section's result file, rewritten whole after every update (a stopped section keeps it)."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.data: dict = {"status": "running", "figures": []}
        self.write()

    def put(self, **values) -> None:
        self.data.update(values)
        self.write()

    def figure(self, name: str, value, unit: str = "") -> None:
        value = float(f"{value:.4g}") if isinstance(value, float) else value
        self.data["figures"] = [f for f in self.data["figures"] if f["name"] != name]
        self.data["figures"].append({"name": name, "value": value, "unit": unit})
        self.write()

    def write(self) -> None:
        from vr2.files import dumps_json, write_atomic

        write_atomic(self.path, dumps_json(self.data, indent=1))


def run_section(args) -> int:
    from vr2.files import loads_json, read_text

    plan = Plan(**loads_json(read_text(args.plan, "plan"), args.plan))
    plan.video_size, plan.tar_batch = tuple(plan.video_size), tuple(plan.tar_batch)
    record = Record(args.result)
    clock = Deadline(args.deadline)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no bars for writing shards in the log
        record.put(environment=environment())
        device = check_device(plan)
        {"tar": tar_section, "grpo": grpo_section, "sft": sft_section, "eval": eval_section}[args.section](
            plan, record, clock, device)
        record.put(status=record.data.get("status_after", "ok"))
        return 0
    except Exception as exc:  # noqa: BLE001 - every failure goes into the report, then the next section runs
        import traceback

        traceback.print_exc()
        oom = type(exc).__name__ == "OutOfMemoryError"
        record.put(status="out of memory" if oom else "error", error=f"{type(exc).__name__}: {first_line(exc)}",
                   memory=memory_figures(device_of(plan)))
        return 0 if oom else 1
    finally:
        record.put(imported_modules=imported_modules())


class Deadline:
    def __init__(self, at: float | None):
        self.at = at or float("inf")

    def left(self) -> float:
        return self.at - time.time()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def device_of(plan: Plan) -> str:
    return "cpu" if plan.tiny else "cuda"


def check_device(plan: Plan) -> str:
    import torch

    if not plan.tiny and not torch.cuda.is_available():
        raise RuntimeError("no CUDA GPU is visible; on a CPU run the check with --tiny")
    return device_of(plan)


def environment() -> dict:
    import platform
    from importlib import metadata

    import torch

    names = ("torch", "transformers", "trl", "accelerate", "peft", "datasets", "sentence-transformers",
             "tokenizers", "av", "pyarrow", "numpy", "huggingface-hub", "onnxruntime")
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env = {"python": platform.python_version(), "versions": versions, "device": cpu_device()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(device=f"{props.name}, {props.total_memory / GIB:.1f} GiB, sm_{props.major}{props.minor}",
                   cuda=torch.version.cuda, bf16=torch.cuda.is_bf16_supported())
    return env


def imported_modules() -> list[str]:
    """Top-level third-party modules this section imported (a test checks they are on the GPU image)."""
    names = {name.split(".")[0] for name in list(sys.modules)}
    return sorted(n for n in names if n not in sys.stdlib_module_names and not n.startswith("_")
                  and n not in ("vr2", "bench_tar", "release_loop", "gpu_check", "__main__"))


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def memory_figures(device: str) -> dict:
    if device == "cuda":
        import torch

        return {"peak_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 2),
                "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 2),
                "allocated_gib": round(torch.cuda.memory_allocated() / GIB, 2)}
    import resource

    return {"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, 3)}


def add_memory(record: Record, device: str, label: str) -> None:
    memory = memory_figures(device)
    record.put(**{f"memory_{label}": memory})
    if device == "cuda":
        record.figure(f"{label}: peak memory allocated", memory["peak_allocated_gib"], "GiB")
        record.figure(f"{label}: peak memory reserved", memory["peak_reserved_gib"], "GiB")
    else:
        record.figure(f"{label}: peak RSS of the process", memory["peak_rss_gib"], "GiB")


# --------------------------------------------------------------------------- random models and data


def qwen_config(size: str, tokenizer):
    """A Qwen2.5-VL config of a released size whose special-token ids come from `tokenizer`."""
    from transformers import Qwen2_5_VLConfig

    from vr2.devtools.tiny import build_config

    ids = build_config(tokenizer)  # the tiny config: only its token ids are used here
    text = dict(TEXT, **SIZES[size], bos_token_id=ids.text_config.bos_token_id,
                eos_token_id=ids.text_config.eos_token_id, pad_token_id=ids.text_config.pad_token_id)
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=dict(VISION, out_hidden_size=SIZES[size]["hidden_size"]),
        image_token_id=ids.image_token_id, video_token_id=ids.video_token_id,
        vision_start_token_id=ids.vision_start_token_id, vision_end_token_id=ids.vision_end_token_id,
        tie_word_embeddings=SIZES[size]["tie_word_embeddings"],
    )


def parameter_counts(size: str) -> dict:
    """Parameters of a released size, counted on the meta device (nothing allocated)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vr2.devtools.tiny import build_tokenizer

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(qwen_config(size, build_tokenizer()))
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    return {"total": total, "vision_and_merger": vision, "language_model": total - vision}


def memory_estimate(size: str) -> dict:
    """GiB that vr2's one-GPU GRPO holds before activations: float32 weights, float32 gradients and
    AdamW moments for the trained language model (vision frozen), TRL's float32 reference model
    (beta > 0), and bf16 copies autocast keeps of the trained weights during a forward."""
    counts = parameter_counts(size)
    trained = counts["language_model"]
    parts = {"weights_fp32": 4 * counts["total"], "gradients_fp32": 4 * trained, "adamw_moments_fp32": 8 * trained,
             "reference_model_fp32": 4 * counts["total"], "autocast_bf16_copies": 2 * trained}
    gib = {k: round(v / GIB, 1) for k, v in parts.items()}
    total = round(sum(parts.values()) / GIB, 1)
    return {"parameters": counts, "gib": gib, "total_gib": total, "fits_one_80gb_card": total + 6 < CARD_GIB}


def model_dir(plan: Plan, size: str, device: str, record: Record) -> Path:
    """A random-init checkpoint of `size` in the work folder (written once, reused by a rerun)."""
    folder = Path(plan.work) / f"qwen2.5-vl-{size}-random"
    if (folder / ".complete").is_file():
        return folder
    import shutil

    from vr2.devtools.tiny import build_tiny_model

    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    if size == "tiny":
        build_tiny_model(folder, seed=plan.seed)
    else:
        write_random_qwen(folder, size, device, plan.seed)
    (folder / ".complete").write_text("")
    record.figure(f"setup: write the random {size} checkpoint", time.perf_counter() - started, "s")
    return folder


def write_random_qwen(folder: Path, size: str, device: str, seed: int) -> None:
    """Initialise on the GPU (seconds, not minutes on the CPU) and save in bf16, as released."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vr2.devtools.tiny import build_processor, build_tokenizer

    tokenizer = build_tokenizer()
    config = qwen_config(size, tokenizer)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = [config.text_config.eos_token_id, config.text_config.pad_token_id]
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.save_pretrained(folder, max_shard_size="4GB")
    build_processor(tokenizer).save_pretrained(folder)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()


def minilm_vocabulary() -> list[str]:
    """30,522 WordPiece entries: BERT's special tokens at their ids, then characters and the words of
    bench_tar's batch (each one token, as in the real vocabulary), then filler to the real size."""
    import bench_tar

    words = {w.lower() for text in (*bench_tar.PEOPLE, *bench_tar.ACTIONS, *bench_tar.VARIANTS)
             for w in text.replace("{p}", " ").replace("{a}", " ").split()}
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    pieces = [*chars, *(f"##{c}" for c in chars), *sorted(words - set(chars))]
    vocab = [f"[unused{k}]" for k in range(MINILM_CONFIG["vocab_size"])]
    for index, token in MINILM_SPECIALS.items():
        vocab[index] = token
    for offset, piece in enumerate(pieces):
        vocab[1000 + offset] = piece
    return vocab


def random_minilm(plan: Plan, record: Record | None = None) -> Path:
    """A sentence-transformers folder with all-MiniLM-L6-v2's configuration and random weights."""
    folder = Path(plan.work) / "minilm-random"
    if (folder / ".complete").is_file():
        return folder
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(minilm_vocabulary()) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True,
                      model_max_length=512).save_pretrained(folder)
    config = {k: v for k, v in MINILM_CONFIG.items() if k not in ("architectures", "model_type")}
    torch.manual_seed(plan.seed)
    BertModel(BertConfig(**config)).save_pretrained(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": MINILM_MAX_SEQ_LENGTH,
                                                                  "do_lower_case": False}))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": MINILM_CONFIG["hidden_size"], "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False}))
    (folder / ".complete").write_text("")
    if record is not None:
        record.figure("setup: write the random MiniLM", time.perf_counter() - started, "s")
    return folder


def training_data(plan: Plan, record: Record) -> Path:
    """The smoke set's rows (vr2.devtools.smoke) over one synthetic video, long enough for 128 frames at
    1 fps and as large as the pixel budget allows (640x480 is sampled to 448x336)."""
    folder = Path(plan.work) / "data"
    if (folder / ".complete").is_file():
        return folder
    import shutil

    from vr2.devtools.smoke import CLIPS, smoke_rows
    from vr2.devtools.synthetic import write_test_video

    started = time.perf_counter()
    videos = folder / "videos"
    first = write_test_video(videos / "clip0.mp4", seconds=plan.video_seconds, fps=plan.video_fps,
                             size=plan.video_size, pattern="motion")
    for clip in range(1, CLIPS):
        shutil.copyfile(first, videos / f"clip{clip}.mp4")
    for stage in ("sft", "grpo"):
        (folder / f"{stage}.json").write_text(json.dumps(smoke_rows(stage), indent=1), encoding="utf-8")
    (folder / ".complete").write_text("")
    record.figure("setup: synthesise the video", time.perf_counter() - started, "s")
    return folder


def quoted(path: Path | str) -> str:
    return json.dumps(str(path))  # a TOML basic string


def video_sizes(recipe, path: Path, *, release: bool = False) -> dict:
    """Frames, frame size and video tokens of `path` under the recipe's [video] sampling."""
    from vr2.samples import Sample
    from vr2.video.sampling import load_sample_video, video_settings

    video = load_sample_video(Sample(id="size", video=str(path), question=""), video_settings(recipe.video),
                              release=release)
    frames, height, width = int(video.frames.shape[0]), int(video.frames.shape[1]), int(video.frames.shape[2])
    return {"frames": frames, "frame_size": f"{width}x{height}", "pixels": width * height,
            "video_tokens": video_tokens(frames, height, width)}


def video_tokens(frames: int, height: int, width: int) -> int:
    """Qwen2.5-VL's LLM tokens for a video: one per 28x28 cell per pair of frames."""
    return -(-frames // 2) * (height // 28) * (width // 28)


# --------------------------------------------------------------------------- timing the trainers


class PhaseTimer:
    """Wall time per phase, the device synchronised at each boundary. A call made inside another
    timed call (a forward inside generate) counts for the outer one."""

    def __init__(self, device: str, record: Record | None = None):
        self.device = device
        self.record = record  # gets the running totals, so a step that fails midway still shows its phases
        self.totals: dict[str, float] = {}
        self.active: str | None = None

    def timed(self, function, phase):
        """`function` timed under `phase` (a name, or a callable choosing one per call)."""

        # wraps: transformers reads a forward's signature (through __wrapped__) to check generate's inputs.
        @functools.wraps(function)
        def run(*args, **kwargs):
            if self.active is not None:
                return function(*args, **kwargs)
            name = phase() if callable(phase) else phase
            if self.record is not None:
                self.record.data["last_phase"] = name  # the phase a failure happened in, or after
            synchronize(self.device)
            start, self.active = time.perf_counter(), name
            try:
                return function(*args, **kwargs)
            finally:
                synchronize(self.device)
                self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start
                self.active = None
                if self.record is not None:
                    self.record.put(phase_totals_s={k: round(v, 3) for k, v in self.totals.items()})

        return run

    def wrap(self, owner, attribute: str, phase) -> None:
        setattr(owner, attribute, self.timed(getattr(owner, attribute), phase))

    def add(self, phase: str, seconds: float) -> None:
        self.totals[phase] = self.totals.get(phase, 0.0) + seconds


def forward_phase(grad: str, no_grad: str):
    import torch

    return lambda: grad if torch.is_grad_enabled() else no_grad


def instrument(trainer, timer: PhaseTimer) -> None:
    """Time the model calls the trainer makes: generate, forwards with and without grad, backward."""
    model = trainer.model
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    timer.wrap(inner, "generate", "generation")
    timer.wrap(inner, "forward", forward_phase("loss forward", "log-prob forward"))
    reference = getattr(trainer, "ref_model", None)
    if reference is not None:
        timer.wrap(reference, "forward", "log-prob forward")
    timer.wrap(trainer.accelerator, "backward", "backward")


def step_clock(timer: PhaseTimer, record: Record, clock: Deadline, label: str):
    """A TrainerCallback: per optimizer step, its time by phase (and the optimizer's own); stops the
    training when the next step would not end before the deadline."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.steps: list[dict] = []

        def on_step_begin(self, args, state, control, **kwargs):
            synchronize(timer.device)
            self.start, self.before = time.perf_counter(), dict(timer.totals)

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            synchronize(timer.device)
            self.optimizer_start = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kwargs):
            synchronize(timer.device)
            timer.add("optimizer", time.perf_counter() - self.optimizer_start)

        def on_step_end(self, args, state, control, **kwargs):
            synchronize(timer.device)
            total = time.perf_counter() - self.start
            phases = {k: round(v - self.before.get(k, 0.0), 3) for k, v in timer.totals.items()
                      if v - self.before.get(k, 0.0) > 0}
            phases["other"] = round(total - sum(phases.values()), 3)
            self.steps.append({"step": len(self.steps) + 1, "total_s": round(total, 3), "phases_s": phases})
            record.put(steps=self.steps)
            record.figure(f"{label} step {len(self.steps)}: total", total, "s")
            for phase, seconds in phases.items():
                record.figure(f"{label} step {len(self.steps)}: {phase}", seconds, "s")
            if clock.left() < 1.2 * total + 10:
                control.should_training_stop = True
                record.put(status_after="ok (stopped early: the next step would pass the budget)")
            return control

    return StepClock()


def weight_sample(model, per_tensor: int = 4096) -> dict:
    """The first elements of every parameter, on the CPU: enough to see which tensors an update moved."""
    return {name: (p.requires_grad, p.detach().reshape(-1)[:per_tensor].float().cpu().clone())
            for name, p in model.named_parameters()}


def weights_moved(before: dict, model) -> dict:
    after = weight_sample(model)
    moved = {"trainable": [0, 0], "frozen": [0, 0]}  # [tensors changed, tensors]
    deltas = []
    for name, (trainable, old) in before.items():
        delta = (after[name][1] - old).abs()
        kind = "trainable" if trainable else "frozen"
        moved[kind][1] += 1
        if bool((delta > 0).any()):
            moved[kind][0] += 1
        if trainable:
            deltas.append(float(delta.mean()))
    deltas.sort()
    return {"trainable_tensors_moved": moved["trainable"][0], "trainable_tensors": moved["trainable"][1],
            "frozen_tensors_moved": moved["frozen"][0], "frozen_tensors": moved["frozen"][1],
            "median_mean_abs_change": deltas[len(deltas) // 2] if deltas else 0.0}


def trainer_metrics(output_dir: str) -> list[dict]:
    """What TRL logged per step (vr2's metrics.jsonl), the completion lengths among them."""
    from vr2.train.checkpoints import METRICS_LOG, read_log

    keep = ("completions/", "step_time", "loss", "grad_norm", "kl", "reward", "entropy")
    return [{k: v for k, v in row.items() if k.startswith(keep)} for row in read_log(Path(output_dir) / METRICS_LOG)]


def train_and_time(trainer, record: Record, clock: Deadline, device: str, label: str, timer: PhaseTimer) -> dict:
    instrument(trainer, timer)
    trainer.add_callback(step_clock(timer, record, clock, label))
    before = weight_sample(trainer.model)
    reset_peak(device)
    trainer.train()
    moved = weights_moved(before, trainer.model)
    record.put(weights=moved, trainer_metrics=trainer_metrics(trainer.args.output_dir))
    record.figure(f"{label}: trainable tensors moved",
                  f"{moved['trainable_tensors_moved']}/{moved['trainable_tensors']}", "")
    record.figure(f"{label}: frozen tensors moved", f"{moved['frozen_tensors_moved']}/{moved['frozen_tensors']}", "")
    record.figure(f"{label}: median mean |change| of a trained tensor", moved["median_mean_abs_change"], "")
    add_memory(record, device, label)
    return moved


def precision_text(recipe, stage: str, device: str) -> str:
    from vr2.train.plan import make_plan

    plan = make_plan(recipe, stage, gpu=device == "cuda", world_size=1)
    compute = "bf16 autocast" if plan.precision == "bf16" else plan.precision
    return f"{plan.weights_dtype} weights (master {plan.master_weights_dtype}), {compute}"


def size_text(size: str) -> str:
    return "tiny Qwen2.5-VL (vr2.devtools.tiny)" if size == "tiny" else f"Qwen2.5-VL-{size.upper()}-shaped, random init"


# --------------------------------------------------------------------------- sections


def grpo_section(plan: Plan, record: Record, clock: Deadline, device: str) -> None:
    from vr2.config import load_recipe
    from vr2.train.data import load_samples
    from vr2.train.trl_backend import NamedReward, build_grpo_trainer, recipe_rewards

    estimates = {size: memory_estimate(size) for size in SIZES}
    record.put(memory_estimate=estimates, size_choice=(
        f"7B needs ~{estimates['7b']['total_gib']:.0f} GiB before activations, 3B ~{estimates['3b']['total_gib']:.0f} "
        f"GiB (float32 weights, gradients, AdamW moments, float32 reference model, bf16 autocast copies): "
        f"3B is the largest released size that fits one {CARD_GIB:.0f} GiB card"))
    for size, estimate in estimates.items():
        record.figure(f"estimate: {size} GRPO state before activations", estimate["total_gib"], "GiB")
    data = training_data(plan, record)
    folder = model_dir(plan, plan.grpo_size, device, record)
    minilm = random_minilm(plan, record)
    overrides = [
        f"model.name_or_path={quoted(folder)}", f"data.train_file={quoted(data / 'grpo.json')}",
        f"data.video_dir={quoted(data / 'videos')}", 'data.subtitles_dir=""',
        f"trainer.output_dir={quoted(Path(plan.work) / 'grpo-run')}", "trainer.max_steps=2",
        "trainer.save_steps=1000000", 'trainer.report_to="none"',
        f"grpo.max_completion_length={plan.new_tokens}", f"grpo.num_generations={plan.generations}",
        f"tar.embedder_model={quoted(minilm)}", f'tar.embedder_device="{device}"', *plan.video_overrides,
        *plan.train_overrides, *plan.grpo_overrides,
    ]
    if plan.workers >= 0:
        overrides.append(f"data.num_workers={plan.workers}")
    if device == "cpu":
        overrides.append("trainer.use_cpu=true")
    recipe = load_recipe(REPO / "recipes" / "tar_gated.toml", overrides)
    sizes = video_sizes(recipe, data / "videos" / "clip0.mp4")
    record.put(device=record_device(device), dtype=precision_text(recipe, "grpo", device), video=sizes,
               sizes=(f"{size_text(plan.grpo_size)}; {sizes['frames']} frames {sizes['frame_size']} "
                      f"({sizes['video_tokens']} video tokens); {recipe.grpo.num_generations} generations x "
                      f"<= {recipe.grpo.max_completion_length} new tokens; 1 prompt per step, "
                      f"{recipe.trainer.completions_per_device} completion per pass; the recipe's rewards + "
                      "`spread` (a hash of the text, so a random model's groups have advantages)"))
    timer = PhaseTimer(device, record)
    functions, weights = recipe_rewards(recipe)
    functions = [NamedReward(timer.timed(f, "rewards"), f.__name__) for f in [*functions, spread]]
    weights = [*weights, 1.0]
    started = time.perf_counter()
    trainer = build_grpo_trainer(recipe, load_samples(recipe), functions, weights)
    record.figure("setup: build the trainer (policy + reference model loaded)", time.perf_counter() - started, "s")
    record.put(memory_after_loading=memory_figures(device))
    if device == "cuda":
        record.figure("memory allocated after loading", memory_figures(device)["allocated_gib"], "GiB")
    train_and_time(trainer, record, clock, device, "grpo", timer)
    lengths = [row.get("completions/mean_length") for row in record.data["trainer_metrics"]]
    lengths = [v for v in lengths if v is not None]
    if lengths:
        record.figure("grpo: mean completion length", sum(lengths) / len(lengths), "tokens")


def spread(completions, **kwargs) -> list[float]:
    """A reward in [0, 1] that differs between completions (a hash of the text). A random model earns 0
    from every real reward, so its groups would have no advantage and the step no gradient; this one
    makes the backward carry a signal, so that "the weights moved" means something."""
    return [int(hashlib.sha256(str(c).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF for c in completions]


def sft_section(plan: Plan, record: Record, clock: Deadline, device: str) -> None:
    from vr2.config import load_recipe
    from vr2.train.data import sft_pairs
    from vr2.train.trl_backend import build_sft_trainer

    data = training_data(plan, record)
    folder = model_dir(plan, plan.sft_size, device, record)
    overrides = [
        f"model.name_or_path={quoted(folder)}", f"data.train_file={quoted(data / 'sft.json')}",
        f"data.video_dir={quoted(data / 'videos')}", 'data.subtitles_dir=""',
        f"trainer.output_dir={quoted(Path(plan.work) / 'sft-run')}", "trainer.max_steps=2",
        "trainer.save_steps=1000000", 'trainer.report_to="none"',
        f"trainer.prompts_per_step={plan.sft_accumulation}", "lora.merge=false", *plan.video_overrides,
        *plan.train_overrides,
    ]
    if plan.workers >= 0:
        overrides.append(f"data.num_workers={plan.workers}")
    if device == "cpu":
        overrides.append("trainer.use_cpu=true")
    paper_step = load_recipe(REPO / "recipes" / "sft.toml").trainer.prompts_per_step
    recipe = load_recipe(REPO / "recipes" / "sft.toml", overrides)
    sizes = video_sizes(recipe, data / "videos" / "clip0.mp4")
    record.put(device=record_device(device), dtype=precision_text(recipe, "sft", device), video=sizes,
               sizes=(f"{size_text(plan.sft_size)}, LoRA r={recipe.lora.r} on the language model; "
                      f"{sizes['frames']} frames {sizes['frame_size']} ({sizes['video_tokens']} video tokens); "
                      f"{plan.sft_accumulation} samples per optimizer step, 1 per pass"))
    started = time.perf_counter()
    trainer = build_sft_trainer(recipe, *sft_pairs(recipe))
    record.figure("setup: build the trainer (model loaded, LoRA placed)", time.perf_counter() - started, "s")
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    record.figure("sft: trainable (LoRA) parameters", trainable, "")
    timer = PhaseTimer(device, record)
    train_and_time(trainer, record, clock, device, "sft", timer)
    steps = record.data.get("steps", [])
    if steps:
        last = steps[-1]["phases_s"]
        per_sample = (last.get("loss forward", 0.0) + last.get("backward", 0.0)) / plan.sft_accumulation
        record.figure("sft: forward + backward per sample (last step)", per_sample, "s")
        record.figure(f"sft: estimated optimizer step of the recipe's {paper_step} samples",
                      per_sample * paper_step + last.get("optimizer", 0.0), "s")


def as_reasoning(tokenizer, generation) -> None:
    """Rewrite a generation's ids as one `<think>` block of the same length, so every generated token is
    a reasoning query for vas_attn as in a real trace (a random model writes no tags)."""
    import torch

    opening, closing = tokenizer.encode("<think>"), tokenizer.encode("</think>")
    length = int(generation.output_ids.shape[0])
    filler = tokenizer.encode(REASONING)
    middle = (filler * (length // len(filler) + 1))[: max(length - len(opening) - len(closing), 1)]
    generation.output_ids = torch.tensor(opening + middle + closing)


def eval_section(plan: Plan, record: Record, clock: Deadline, device: str) -> None:
    from vr2.config import load_recipe
    from vr2.eval import protocols
    from vr2.eval.runner import TransformersEngine
    from vr2.model.runtime import generate_batch
    from vr2.samples import Sample

    data = training_data(plan, record)
    folder = model_dir(plan, plan.eval_size, device, record)
    overrides = [f"model.name_or_path={quoted(folder)}", f'model.device="{device}"', *plan.video_overrides,
                 *plan.eval_overrides]
    recipe = load_recipe(REPO / "recipes" / "eval" / "_protocol.toml", overrides)
    tokens = plan.eval_tokens or protocols.max_new_tokens(recipe, "mvbench")
    started = time.perf_counter()
    engine = TransformersEngine(recipe)  # vr2 eval's model loading (bf16 on a GPU)
    record.figure("setup: load the model", time.perf_counter() - started, "s")
    loaded = engine.loaded
    sample = Sample(id="gpu-check", video=str(data / "videos" / "clip0.mp4"), question=QUESTION)
    started = time.perf_counter()
    frames = protocols.video(sample, recipe)  # the paper protocol's sampling (qwen-vl-utils' rules)
    record.figure("decode one video (CPU; eval overlaps it with generation)", time.perf_counter() - started, "s")
    height, width = frames.frames.shape[1:3]
    tokens_in = video_tokens(len(frames.frames), height, width)
    dtype = str(loaded.model.dtype).replace("torch.", "")
    record.put(device=record_device(device), dtype=f"{dtype} weights, {recipe.model.attn_implementation} attention",
               sizes=(f"{size_text(plan.eval_size)}; protocol {recipe.eval.protocol}: {len(frames.frames)} frames "
                      f"{width}x{height} ({tokens_in} video tokens); greedy, {tokens} new tokens forced "
                      "(min_new_tokens) so every answer is full length"))
    generate_batch(loaded, [(frames, QUESTION, None)], max_new_tokens=2, mode="paper", keep_inputs=False)  # warm-up
    loaded.model.generation_config.min_new_tokens = tokens  # a random model may stop early: time full answers
    estimate = None
    for batch in plan.eval_batches:
        if estimate is not None and clock.left() < estimate * batch ** 0.5 + 10:
            record.put(status_after=f"ok (batch {batch} skipped: not enough budget left)")
            break
        seconds = eval_batch(loaded, recipe, frames, tokens, batch, record)
        estimate = estimate or seconds


def eval_batch(loaded, recipe, frames, tokens: int, batch: int, record: Record) -> float:
    """One `generate_batch` of `batch` copies of the video, then `vas_attn` on each answer, as the
    engine runs them; returns the seconds both took."""
    from vr2.model.runtime import generate_batch, prepare_batch
    from vr2.model.vas import vas_attn

    device = "cpu" if loaded.device == "cpu" else "cuda"
    items = [(frames, QUESTION, None)] * batch
    started = time.perf_counter()
    prepare_batch(loaded, items, mode="paper")  # timed apart too: generate_batch starts with it
    synchronize(device)
    prepare_s = time.perf_counter() - started
    started = time.perf_counter()
    generations = generate_batch(loaded, items, max_new_tokens=tokens, temperature=recipe.eval.temperature,
                                 seed=recipe.trainer.seed, mode="paper", keep_inputs=True)
    synchronize(device)
    generate_s = time.perf_counter() - started
    produced = sum(int(g.output_ids.shape[0]) for g in generations)
    for generation in generations:
        as_reasoning(loaded.tokenizer, generation)
    started = time.perf_counter()
    scored = [vas_attn(loaded, g).think_token_count for g in generations]
    synchronize(device)
    vas_s = time.perf_counter() - started
    record.put(**{f"batch_{batch}": {"prepare_s": prepare_s, "generate_s": generate_s, "vas_s": vas_s,
                                     "new_tokens": produced, "vas_reasoning_tokens": scored}})
    record.figure(f"eval batch {batch}: generation", generate_s, "s")
    record.figure(f"eval batch {batch}: of which preparing the inputs (processor)", prepare_s, "s")
    record.figure(f"eval batch {batch}: new tokens", produced, "tokens")
    record.figure(f"eval batch {batch}: tokens/s", produced / generate_s, "tokens/s")
    record.figure(f"eval batch {batch}: videos/min, generation only", 60 * batch / generate_s, "videos/min")
    record.figure(f"eval batch {batch}: videos/min with vas_attn", 60 * batch / (generate_s + vas_s), "videos/min")
    record.figure(f"eval batch {batch}: vas_attn", vas_s, "s")
    record.figure(f"eval batch {batch}: vas_attn / generation", vas_s / generate_s, "")
    return prepare_s + generate_s + vas_s


def tar_section(plan: Plan, record: Record, clock: Deadline, device: str) -> None:
    import bench_tar

    from vr2.plugins.registry import make_embedder
    from vr2.scoring.embedding import SentenceTransformerEmbedder

    folder = random_minilm(plan, record)
    # On the GPU both sides run sentence-transformers there (vr2's minilm does so off the CPU); on the
    # CPU vr2's default would export the random model to ONNX first, which is not what is timed here.
    options = {} if device == "cuda" else {"backend": "torch"}
    embedder = make_embedder("minilm", model=str(folder), device=device, **options)
    release = SentenceTransformerEmbedder(folder, device=device)
    prompts, generations = plan.tar_batch
    batch = bench_tar.make_batch(seed=0, prompts=prompts, generations=generations)
    record.put(device=record_device(device), dtype="float32 (both encoders)",
               sizes=(f"random-init all-MiniLM-L6-v2 config (6 layers, 384 wide, 22.7M parameters); batch of "
                      f"{len(batch)} completions ({prompts} prompts x {generations} generations), "
                      f"{sum(len(p) for p, _ in batch)} claims; best of {plan.tar_repeats} interleaved rounds"))
    result = bench_tar.measure(embedder, release, plan.tar_repeats, batch)
    record.put(result=result)
    record.figure("tar: release's loop", result["official_s"] * 1000, "ms")
    record.figure("tar: vr2 (cold cache, optimal matching)", result["vr2_s"] * 1000, "ms")
    record.figure("tar: one encode of the distinct sentences", result["floor_s"] * 1000, "ms")
    record.figure("tar: speed-up vs the release's loop", result["speedup_vs_official"], "x")
    record.figure("tar: vr2 / encode floor", result["vr2_over_floor"], "x")
    # Random weights make most sentences look alike, so near-ties decide matches: timing only.
    record.figure("tar: greedy mode equals the release's loop (random weights)",
                  f"{result['greedy_equals_official']}/{result['completions']}", "completions")


def record_device(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return cpu_device()


def cpu_device() -> str:
    import platform

    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"


if __name__ == "__main__":
    sys.exit(main())
