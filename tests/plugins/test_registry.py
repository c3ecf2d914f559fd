import json
import textwrap

import numpy as np
import pytest

from vr2.plugins import registry as plugins
from vr2.scoring.claims import Claim
from vr2.errors import Vr2Error
from vr2.plugins.registry import hookimpl

from cli_helpers import run_vr2


class Shouting:
    """A throwaway extractor: one claim per 'T=<seconds>:' marker, text upper-cased."""

    name = "shouting"

    def extract(self, think):
        claims = []
        for part in think.split("T=")[1:]:
            seconds, text = part.split(":", 1)
            claims.append(Claim(float(seconds), float(seconds), text.split(".")[0].strip().upper()))
        return claims


class FirstWord:
    """A throwaway embedder: sentences are similar exactly when their first words agree."""

    name = "first-word"

    def encode(self, texts):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, hash(text.split()[0].lower()) % 64] = 1.0
        return out


class ThrowawayPlugin:
    @hookimpl
    def vr2_claim_extractors(self):
        return {"shouting": lambda judge=None: Shouting()}

    @hookimpl
    def vr2_embedders(self):
        return {"first-word": lambda model=None: FirstWord()}


@pytest.fixture
def throwaway():
    plugins.register(ThrowawayPlugin(), name="throwaway")
    yield
    plugins.unregister("throwaway")


def test_builtins_are_registered_through_the_hooks():
    assert {"rule", "llm"} <= set(plugins.components("vr2_claim_extractors"))
    assert {"minilm", "sentence-transformers"} <= set(plugins.components("vr2_embedders"))
    assert {"rule", "llm"} <= set(plugins.components("vr2_consistency_checkers"))
    assert all(c.plugin == "vr2-builtin:scoring" for c in plugins.components("vr2_embedders").values())


def test_unknown_component_lists_installed():
    with pytest.raises(Vr2Error, match=r"unknown extractor 'nope' \(installed: .*rule"):
        plugins.make_extractor("nope")


def test_duplicate_name_is_an_error_naming_both(throwaway):
    class Clash:
        @hookimpl
        def vr2_embedders(self):
            return {"first-word": lambda model=None: FirstWord()}

    plugins.register(Clash(), name="clash")
    try:
        with pytest.raises(Vr2Error, match="offered by both plugin 'throwaway' and plugin 'clash'"):
            plugins.make_embedder("first-word")
    finally:
        plugins.unregister("clash")


def test_vr2_score_uses_the_throwaway_extractor_and_embedder(throwaway, tmp_path, capsys):
    trace = tmp_path / "t.json"
    trace.write_text(json.dumps({"completion": "<think>T=10: Dogs run. T=50: Cats sleep. So the answer is A.</think><answer>A</answer>",
                                 "options": ["x", "y"]}))
    ref = tmp_path / "r.json"
    ref.write_text(json.dumps({"00:11": "dogs bark loudly", "00:30": "cats wake up"}))
    result = run_vr2(capsys, "score", trace, "--ref", ref, "--json", "--extractor", "shouting", "--embedder", "first-word")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [c["text"] for c in data["pred_claims"]] == ["DOGS RUN", "CATS SLEEP"]
    # first words agree for both, but only the dog claim is within 2 * 2 s of its reference
    assert data["matches"] == [{"pred": 0, "ref": 0, "gap": 1.0, "similarity": 1.0}]
    assert data["tar"] == 0.5


def test_plugins_command_lists_hooks_and_selection(throwaway, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # plugin names are not folded
    result = run_vr2(capsys, "plugins", "--set", 'tar.extractor="shouting"')
    assert result.code == 0, result.err
    assert "throwaway" in result.out and "shouting" in result.out and "vr2-builtin" in result.out


def test_entry_point_plugins_load_and_env_var_filters(tmp_path, monkeypatch):
    pkg = tmp_path / "vr2_demo_plugin.py"
    pkg.write_text(textwrap.dedent("""
        import numpy as np
        from vr2.plugins.registry import hookimpl

        class Ones:
            name = "ones"
            def encode(self, texts):
                return np.ones((len(texts), 4), dtype=np.float32) / 2.0

        @hookimpl
        def vr2_embedders():
            return {"ones": lambda model=None: Ones()}
    """))
    dist = tmp_path / "vr2_demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vr2-demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vr2]\ndemo = vr2_demo_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.plugin_manager.cache_clear()
    try:
        assert "ones" in plugins.components("vr2_embedders")
        row = next(r for r in plugins.plugin_rows() if r["plugin"] == "demo")
        assert row["source"] == "vr2-demo-plugin" and row["offers"] == ["embedder:ones"]
        monkeypatch.setenv("VR2_PLUGINS", "none")
        plugins.plugin_manager.cache_clear()
        assert "ones" not in plugins.components("vr2_embedders")
        monkeypatch.setenv("VR2_PLUGINS", "demo")
        plugins.plugin_manager.cache_clear()
        assert "ones" in plugins.components("vr2_embedders")
    finally:
        plugins.plugin_manager.cache_clear()


def test_a_judge_plugin_serves_the_llm_consistency_checker():
    from vr2.config import load_recipe

    class Canned:
        stats = None

        def __init__(self, reply):
            self.reply = reply
            self.seen = []

        def complete(self, messages):
            self.seen.append(messages)
            return self.reply

    judges = {"yes": Canned("TRUE"), "garbage": Canned("no idea")}

    class JudgePlugin:
        @hookimpl
        def vr2_judges(self):
            return {name: (lambda settings=None, j=j: j) for name, j in judges.items()}

    plugins.register(JudgePlugin(), name="canned-judges")
    try:
        for name, expected in (("yes", True), ("garbage", None)):
            recipe = load_recipe(None, [f'judge.backend="{name}"', 'judge.url="http://127.0.0.1:9/v1"'])
            checker = plugins.make_consistency("llm", judge=recipe.judge)
            assert checker.check("So the answer is B.", "B", "multiple_choice", ["x", "y"]) is expected
            assert judges[name].seen, "the plugin judge was asked"
    finally:
        plugins.unregister("canned-judges")
