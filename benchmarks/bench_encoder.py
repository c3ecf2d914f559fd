"""Can a faster encoder of the same MiniLM weights take TAR to 10x the release's algorithm?

For each way of running all-MiniLM-L6-v2 on the CPU, in one process, side by side:
- time to encode the distinct sentences of the GRPO-shaped batch of `bench_tar.py` (best of N,
  interleaved), and the TAR speed-up it implies against the release's algorithm (timed in the
  same run: per completion, two sentence-transformers calls, greedy);
- equivalence with sentence-transformers fp32: minimum cosine on a corpus of distinct sentences
  (the goal asks >= 0.9999), and whether the TAR matches are identical on three batches.

Variants: sentence-transformers fp32 (the release's encoder), ONNX Runtime fp32 (vr2's default),
the same with busy-waiting threads, ONNX Runtime with the BERT fusions of its transformer
optimizer, ONNX Runtime fp16, ONNX Runtime int8 (dynamic quantisation, per tensor and per
channel), and torch bf16 (autocast, and bf16 weights), which is fast only on CPUs with
AVX512-BF16/AMX.

Also prints where the fp32 ONNX time goes (ONNX Runtime's profiler, by operator) and the
arithmetic rate of its MatMuls, to show how close fp32 is to the machine's limit.

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_encoder.py [--repeats 5] [--sentences 3000]
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_tar import ACTIONS, PEOPLE, VARIANTS, decisions, make_batch, official  # noqa: E402

from vr2.scoring.embedding import SentenceTransformerEmbedder  # noqa: E402
from vr2.scoring.onnx_embedding import OnnxEmbedder, exported_path, minilm_path  # noqa: E402
from vr2.scoring.tar import TarScorer  # noqa: E402


class OrtVariant(OnnxEmbedder):
    """vr2's ONNX embedder (same tokenisation and batching) on another ONNX file or options."""

    def __init__(self, onnx_file: Path | None = None, *, spinning: bool = False, profile: bool = False):
        import onnxruntime as ort

        super().__init__(minilm_path())
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.enable_profiling = profile
        options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "vr2-bench-encoder")
        path = onnx_file or exported_path(minilm_path())
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class TorchBf16:
    """sentence-transformers in bf16: autocast (fp32 weights) or the weights cast to bf16."""

    def __init__(self, base: SentenceTransformerEmbedder, *, weights: bool):
        import torch

        self._torch = torch
        self._weights = weights
        self._model = copy.deepcopy(base._model).to(torch.bfloat16) if weights else base._model

    def encode(self, texts):
        torch = self._torch
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=not self._weights):
            vectors = self._model.encode(list(texts), batch_size=64, convert_to_numpy=False,
                                         show_progress_bar=False, convert_to_tensor=True)
        vectors = vectors.float().numpy()
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def onnx_files(folder: Path) -> dict[str, Path]:
    """fp16, int8 and fused variants of vr2's exported file."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.optimizer import optimize_model

    source = exported_path(minilm_path())
    files = {}
    files["fp16"] = folder / "fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), files["fp16"])
    for per_channel in (False, True):
        name = "int8 per channel" if per_channel else "int8 per tensor"
        files[name] = folder / f"{name.replace(' ', '_')}.onnx"
        quantize_dynamic(str(source), str(files[name]), weight_type=QuantType.QInt8,
                         per_channel=per_channel, op_types_to_quantize=["MatMul"])
    fused = optimize_model(str(source), model_type="bert", num_heads=12, hidden_size=384)
    print(f"ORT transformer optimizer fusions: {fused.get_fused_operator_statistics()}")
    files["fused"] = folder / "fused.onnx"
    fused.save_model_to_file(str(files["fused"]))
    return files


def corpus(size: int) -> list[str]:
    places = ["", " in the kitchen", " at night", " outdoors", " for the second time", " on a sunny day"]
    every = [v.format(p=p, a=a) + place for v in VARIANTS for p in PEOPLE for a in ACTIONS for place in places]
    return random.Random(0).sample(every, min(size, len(every)))


def best_times(fns: dict, repeats: int) -> dict[str, float]:
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def where_time_goes(unique: list[str]) -> None:
    """fp32 ONNX Runtime profile by operator, and the MatMuls' arithmetic rate."""
    embedder = OrtVariant(profile=True)
    embedder.encode(unique)
    profile = Path(embedder._session.end_profiling())
    trace = json.loads(profile.read_text())
    profile.unlink()
    per_op = collections.Counter()
    for event in trace:
        if event.get("cat") == "Node":
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values())
    shares = ", ".join(f"{op} {us / total:.0%}" for op, us in per_op.most_common(5))
    tokens = sum(len(e.ids) for e in embedder._tokenizer.encode_batch(unique))
    # MiniLM-L6: 6 layers of 4 x 384x384 + 2 x 384x1536 weight matrices, 2 FLOP per multiply-add
    flop = tokens * 6 * 2 * (4 * 384 * 384 + 2 * 384 * 1536)
    print(f"fp32 ONNX Runtime, by operator: {shares}; the linear layers do {flop / 1e9:.0f} GFLOP "
          f"for {tokens} tokens ({len(unique)} sentences), {flop / (per_op['MatMul'] / 1e6) / 1e9:.0f} "
          f"GFLOP/s in MatMul (padding not counted)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=3000)
    args = parser.parse_args()

    release = SentenceTransformerEmbedder(minilm_path())
    batch = make_batch()
    unique = list(dict.fromkeys(c.text for p, r in batch for c in (*p, *r)))
    variants = {"sentence-transformers fp32 (release)": release, "ONNX Runtime fp32 (vr2 default)": OrtVariant(),
                "ONNX Runtime fp32, spinning threads": OrtVariant(spinning=True)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in onnx_files(Path(tmp)).items():
            variants[f"ONNX Runtime {name}"] = OrtVariant(path)
        variants["torch bf16 autocast"] = TorchBf16(release, weights=False)
        variants["torch bf16 weights"] = TorchBf16(release, weights=True)
        for embedder in variants.values():
            embedder.encode(["warm up"])

        fns = {name: (lambda e=e: e.encode(unique)) for name, e in variants.items()}
        fns["release's TAR algorithm"] = lambda: official(release._model, batch)
        times = best_times(fns, args.repeats)
        t_official = times.pop("release's TAR algorithm")

        sentences = corpus(args.sentences)
        reference = release.encode(sentences)
        batches = [make_batch(seed) for seed in (0, 1, 2)]
        truth = [decisions(TarScorer(release).score_batch(b)) for b in batches]
        print(f"batch: {len(unique)} distinct sentences; release's TAR algorithm on it: {t_official * 1000:.0f} ms; "
              f"equivalence on {len(sentences)} sentences and 3 batches of 64 completions")
        print(f"{'encoder':40s} {'encode ms':>9s} {'TAR vs release':>14s} {'min cosine':>10s} {'same TAR':>8s}")
        for name, embedder in variants.items():
            vectors = embedder.encode(sentences)
            cosine = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True) * reference).sum(axis=1).min()
            same = all(decisions(TarScorer(embedder).score_batch(b)) == t for b, t in zip(batches, truth))
            print(f"{name:40s} {times[name] * 1000:9.0f} {t_official / times[name]:13.1f}x {cosine:10.7f} "
                  f"{'yes' if same else 'NO':>8s}")
    where_time_goes(unique)


if __name__ == "__main__":
    main()
