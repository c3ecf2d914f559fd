import numpy as np
import pytest
from cli_helpers import run_vr2

from vr2 import hookimpl
from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.plugins import registry as plugins
from vr2.plugins.registry import make_embedder
from vr2.scoring.embedding import CachedEmbedder, SentenceTransformerEmbedder, check_device
from vr2.scoring.rewards import build_tar_reward


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


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


class DeviceProbe:
    """An embedder plugin that records the options the TAR reward builds it with."""

    built: list[dict] = []

    @hookimpl
    def vr2_embedders(self):
        def factory(model=None, **options):
            DeviceProbe.built.append(options)
            return FirstWordVectors()
        return {"device-probe": factory}


class FirstWordVectors:
    name = "device-probe"

    def encode(self, texts):
        return np.eye(len(texts), 8, dtype=np.float32)


@pytest.fixture
def probe():
    plugins.register(DeviceProbe(), name="device-probe")
    DeviceProbe.built.clear()
    yield DeviceProbe.built
    plugins.unregister("device-probe")


@pytest.mark.parametrize("device, options", [("cpu", {}), ("cuda:1", {"device": "cuda:1"})])
def test_embedder_device_reaches_the_plugin_only_when_it_is_a_gpu(probe, device, options):
    recipe = load_recipe(None, ['tar.embedder="device-probe"', f'tar.embedder_device="{device}"'])
    reward = build_tar_reward(recipe.tar)
    reward.scorer.embedder.encode(["a man opens the door"])  # built on first use
    assert probe == [options]


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "CUDA", "cuda:"])
def test_a_bad_embedder_device_fails_before_anything_loads(device):
    recipe = load_recipe(None, [f'tar.embedder_device="{device}"'])
    with pytest.raises(Vr2Error, match="tar.embedder_device: .* is not cpu, cuda or cuda:N"):
        build_tar_reward(recipe.tar)
    assert check_device("cuda") == "cuda" and check_device("cuda:3") == "cuda:3"


@pytest.mark.skipif(torch_cuda(), reason="this machine has a GPU")
def test_a_gpu_embedder_without_a_gpu_is_one_line(capsys):
    with pytest.raises(Vr2Error, match="no CUDA GPU is visible"):
        make_embedder("minilm", device="cuda")
    result = run_vr2(capsys, "score", "examples/trace.json", "--ref", "examples/ref.json",
                     "-s", 'tar.embedder_device="cuda"')
    assert result.code == 2 and "no CUDA GPU is visible" in result.err
    assert "Traceback" not in result.err
