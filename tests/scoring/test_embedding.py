import numpy as np
import pytest

from vr2.scoring.embedding import CachedEmbedder, SentenceTransformerEmbedder
from vr2.errors import Vr2Error
from vr2.plugins.registry import make_embedder


@pytest.fixture(scope="module")
def minilm():
    return make_embedder("minilm")


class Counting:
    name = "counting"

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_minilm_gives_normalised_384d_and_meaningful_similarity(minilm):
    v = minilm.encode(["A man enters the kitchen.", "A man walks into the kitchen.", "Stock prices fell sharply."])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.75 > v[0] @ v[2]


def test_cache_encodes_each_distinct_sentence_once_in_one_batch(minilm):
    counting = Counting(minilm)
    cached = CachedEmbedder(counting)
    first = cached.encode(["a", "b", "a", "c"])
    second = cached.encode(["c", "a", "d"])
    assert counting.calls == [["a", "b", "c"], ["d"]]
    assert np.allclose(first[0], second[1]) and np.allclose(first[0], first[2])


def test_cache_is_bounded(minilm):
    cached = CachedEmbedder(minilm, max_entries=2)
    cached.encode(["a", "b", "c"])
    assert len(cached._cache) == 2


def test_sentence_transformers_needs_an_existing_folder(tmp_path):
    with pytest.raises(Vr2Error, match="not found"):
        SentenceTransformerEmbedder(tmp_path / "missing")
    with pytest.raises(Vr2Error, match="needs a model folder"):
        make_embedder("sentence-transformers")


def test_any_sentence_transformers_folder_works():
    from vr2.scoring.embedding import minilm_path

    emb = make_embedder("sentence-transformers", model=str(minilm_path()))
    assert emb.encode(["hello"]).shape == (1, 384)
    assert emb.encode([]).shape == (0, 384)


def test_cache_counts_hits_across_calls(minilm):
    cached = CachedEmbedder(minilm)
    assert cached.hit_rate == 0.0
    cached.encode(["ref one", "ref two", "clause", "clause"])
    cached.encode(["ref one", "ref two", "new clause"])
    assert (cached.hits, cached.misses) == (2, 4)
    assert cached.hit_rate == pytest.approx(2 / 6)
