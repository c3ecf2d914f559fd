"""The ONNX Runtime MiniLM: same vectors and TAR decisions as sentence-transformers, no torch
on the score path, one-time export into the cache."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vr2.scoring import onnx_embedding
from vr2.scoring.claims import Claim, extract_claims
from vr2.scoring.embedding import SentenceTransformerEmbedder, make_minilm, minilm_path
from vr2.errors import Vr2Error
from vr2.scoring.onnx_embedding import OnnxEmbedder
from vr2.scoring.tar import TarScorer

ROOT = Path(__file__).resolve().parents[2]


def _bench_tar():
    spec = importlib.util.spec_from_file_location("bench_tar", ROOT / "benchmarks" / "bench_tar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def both():
    return OnnxEmbedder(minilm_path()), SentenceTransformerEmbedder(minilm_path())


def _corpus_pairs():
    """The test corpus: the example traces (claims extracted from their reasoning) and the
    GRPO-shaped benchmark batch (a smaller seed-1 version)."""
    pairs = []
    for line in (ROOT / "examples" / "traces.jsonl").read_text().splitlines():
        record = json.loads(line)
        think = record["completion"].split("</think>")[0]
        ref = [Claim(*_seconds(t), text) for t, text in record["temporal_grounding"].items()]
        pairs.append((extract_claims(think), ref))
    return pairs + _bench_tar().make_batch(seed=1, prompts=3, generations=4)


def _seconds(stamp: str) -> tuple[float, float]:
    minutes, seconds = stamp.split(":")
    t = int(minutes) * 60 + float(seconds)
    return t, t


def test_minilm_defaults_to_onnx_and_falls_back_to_sentence_transformers(monkeypatch):
    assert isinstance(make_minilm(), OnnxEmbedder)
    assert isinstance(make_minilm(backend="torch"), SentenceTransformerEmbedder)
    monkeypatch.setattr(onnx_embedding, "onnx_available", lambda: False)
    assert isinstance(make_minilm(), SentenceTransformerEmbedder)


def test_vectors_match_sentence_transformers(both):
    onnx, torch_st = both
    sentences = list(dict.fromkeys(c.text for p, r in _corpus_pairs() for c in (*p, *r)))
    sentences += ["", "a", "word " * 400]  # empty, one token, truncated at max_seq_length
    a, b = onnx.encode(sentences), torch_st.encode(sentences)
    assert a.shape == b.shape == (len(sentences), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() >= 0.9999
    assert onnx.encode([]).shape == (0, 384)


def test_identical_tar_decisions_on_the_corpus(both):
    onnx, torch_st = both
    pairs = _corpus_pairs()
    ours = TarScorer(onnx).score_batch(pairs)
    theirs = TarScorer(torch_st).score_batch(pairs)
    assert sum(len(r.matches) for r in ours) > 10  # the corpus really exercises matching
    assert [[(m.pred, m.ref) for m in r.matches] for r in ours] == \
        [[(m.pred, m.ref) for m in r.matches] for r in theirs]


def test_export_writes_the_cache_file_atomically_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VR2_CACHE_DIR", str(tmp_path))
    path = onnx_embedding.exported_path(minilm_path())
    assert path.parent.parent == tmp_path and not path.exists()
    emb = OnnxEmbedder(minilm_path())
    assert path.is_file() and "exporting the embedding model" in capsys.readouterr().err
    # no temporary left behind; the export's hash beside it
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".sha256"]
    OnnxEmbedder(minilm_path())
    assert capsys.readouterr().err == ""  # second use loads the cache
    assert emb.encode(["hello"]).shape == (1, 384)


def test_a_changed_model_is_exported_again(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"x")
    first = onnx_embedding.exported_path(model)
    (model / "model.safetensors").write_bytes(b"xy")
    assert onnx_embedding.exported_path(model) != first


def test_score_imports_neither_torch_nor_transformers_nor_scipy_optimize():
    make_minilm()  # the one-time export (which needs torch) is not what this test measures
    code = (
        "import sys\n"
        "from vr2.cli.main import main\n"
        "sys.argv = ['vr2', 'score', 'examples/trace.json', '--ref', 'examples/ref.json', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'sentence_transformers') or m.startswith('scipy.optimize'))\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert '"tar": 0.8' in run.stdout
    assert "HEAVY []" in run.stdout


def test_a_damaged_cache_file_is_exported_again(tmp_path, monkeypatch):
    monkeypatch.setenv("VR2_CACHE_DIR", str(tmp_path))
    path = onnx_embedding.exported_path(minilm_path())
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an onnx model")
    assert OnnxEmbedder(minilm_path()).encode(["hello"]).shape == (1, 384)
    assert path.stat().st_size > 1_000_000


def test_an_unwritable_cache_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VR2_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(Vr2Error, match="VR2_CACHE_DIR"):
        OnnxEmbedder(minilm_path())


def test_core_dependencies_never_raise_missing_extra():
    """MissingExtra says `pip install X` for an optional package; for a core dependency that advice
    would hide a broken install, so only optional packages (deepspeed, the plugin packages) use it."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    core = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=~!;\[ ]", spec, maxsplit=1)[0].lower() for spec in core}
    for source in (root / "src").rglob("*.py"):
        for package in re.findall(r'MissingExtra\(\s*f?"([^"]+)"', source.read_text()):
            assert package.lower() not in names, f"{source}: MissingExtra for core dependency {package}"
