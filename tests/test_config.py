import re
from pathlib import Path

import pytest
import tomllib
from hypothesis import given
from hypothesis import strategies as st

from vr2.config import dump_toml, load_recipe, parse_override, recipe_to_dict
from vr2.errors import Vr2Error

RECIPES = sorted(Path(__file__).resolve().parents[1].joinpath("recipes").rglob("*.toml"))


def write(tmp_path, text, name="r.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_shipped_recipe_validates_and_opens_with_its_command(path):
    recipe = load_recipe(path)
    assert recipe.name
    first = path.read_text().splitlines()[0]
    assert first.startswith("# vr2 ") and path.name in first


def test_paper_defaults_for_full_method():
    r = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "tar_gated.toml")
    assert (r.tar.buffer_seconds, r.tar.tau, r.tar.gate) == (2.0, 0.75, True)
    assert (r.grpo.num_generations, r.grpo.beta, r.trainer.learning_rate) == (8, 0.04, 1e-6)
    assert (r.video.fps, r.video.max_frames, r.video.max_pixels) == (2.0, 32, 151_200)
    assert r.rewards == {"accuracy": 1.0, "format": 1.0, "tar": 1.0}


def test_unknown_key_names_file_key_and_allowed(tmp_path):
    path = write(tmp_path, "[tar]\nbufer_seconds = 3\n")
    with pytest.raises(Vr2Error) as err:
        load_recipe(path)
    msg = str(err.value)
    assert str(path) in msg and "tar.bufer_seconds" in msg and "buffer_seconds" in msg and "tau" in msg


def test_unknown_section_is_an_error(tmp_path):
    with pytest.raises(Vr2Error, match="unknown key 'trainning'"):
        load_recipe(write(tmp_path, "[trainning]\nlr = 1\n"))


@pytest.mark.parametrize("text, fragment", [
    ("[tar]\ntau = 'high'\n", "tar.tau must be a number"),
    ("[tar]\ntau = 1.5\n", "tar.tau must be <= 1.0"),
    ("[video]\nmax_frames = 2.5\n", "video.max_frames must be an integer"),
    ("[tar]\ngate = 1\n", "tar.gate must be true or false"),
    ("[tar]\nmatching = 'fast'\n", "must be one of optimal, greedy"),
    ("[lora]\ntarget_modules = 'q_proj'\n", "must be a list of strings"),
    ("tar = 3\n", "'tar' must be a table"),
])
def test_bad_values_are_named(tmp_path, text, fragment):
    with pytest.raises(Vr2Error, match=fragment):
        load_recipe(write(tmp_path, text))


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(Vr2Error, match="not valid TOML"):
        load_recipe(write(tmp_path, "[tar\n"))
    with pytest.raises(Vr2Error, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")


def test_overrides_apply_and_are_validated(tmp_path):
    path = write(tmp_path, "[tar]\ntau = 0.7\n")
    r = load_recipe(path, ["tar.tau=0.8", "tar.gate=false", "model.name_or_path=/m/x", "eval.benchmarks=['mvbench']"])
    assert (r.tar.tau, r.tar.gate, r.model.name_or_path, r.eval.benchmarks) == (0.8, False, "/m/x", ["mvbench"])
    with pytest.raises(Vr2Error, match="override 'tar.tau=abc'.*must be a number"):
        load_recipe(path, ["tar.tau=abc"])
    with pytest.raises(Vr2Error, match="unknown key 'tar.nope'"):
        load_recipe(path, ["tar.nope=1"])
    with pytest.raises(Vr2Error, match="expected section.key=value"):
        load_recipe(path, ["tau=1"])


def test_extends_merges_and_detects_loops(tmp_path):
    write(tmp_path, "name='base'\n[tar]\ntau = 0.6\nbuffer_seconds = 3.0\n", "base.toml")
    child = write(tmp_path, "extends = 'base.toml'\nname='child'\n[tar]\ntau = 0.9\n", "child.toml")
    r = load_recipe(child)
    assert (r.name, r.tar.tau, r.tar.buffer_seconds) == ("child", 0.9, 3.0)
    write(tmp_path, "extends = 'b.toml'\n", "a.toml")
    write(tmp_path, "extends = 'a.toml'\n", "b.toml")
    with pytest.raises(Vr2Error, match="loops"):
        load_recipe(tmp_path / "a.toml")


def test_dump_round_trips(tmp_path):
    r = load_recipe(None, ["tar.tau=0.5", "lora.target_modules=['a','b']"])
    again = load_recipe(write(tmp_path, dump_toml(r)))
    assert recipe_to_dict(again) == recipe_to_dict(r) and again.tar.tau == 0.5
    assert tomllib.loads(dump_toml(r))["lora"]["target_modules"] == ["a", "b"]


@given(st.text(max_size=40))
def test_parse_override_never_crashes_unexpectedly(text):
    try:
        parse_override(text)
    except Vr2Error:
        pass


def _float_keys():
    import typing
    from dataclasses import fields

    from vr2.config import SECTIONS, TABLES

    for section, factory in SECTIONS.items():
        if section in TABLES:  # a name -> weight table: every entry is a number
            yield from (f"{section}.{name}" for name in factory())
            continue
        cls = type(factory())
        hints = typing.get_type_hints(cls)
        yield from (f"{section}.{f.name}" for f in fields(cls) if hints[f.name] is float)


FLOAT_KEYS = list(_float_keys())


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_every_number_key_refuses_non_finite_values(tmp_path, key, value):
    # NaN passes `x < lo or x > hi`; each float key must refuse it in a file and an override.
    section, name = key.split(".")
    with pytest.raises(Vr2Error, match=re.escape(f"override '{key}={value}': {key} must be a finite number")):
        load_recipe(None, [f"{key}={value}"])
    path = write(tmp_path, f"[{section}]\n{name} = {value}\n")
    with pytest.raises(Vr2Error, match=rf"r.toml: {key} must be a finite number"):
        load_recipe(path)


def test_float_keys_cover_the_numbers_that_matter():
    assert {"grpo.beta", "tar.tau", "judge.timeout", "rewards.tar", "trainer.learning_rate"} <= set(FLOAT_KEYS)


def test_a_deep_extends_chain_is_a_clean_error(tmp_path):
    from vr2.config import MAX_EXTENDS_DEPTH

    for k in range(1200):
        write(tmp_path, f"extends = 'r{k + 1}.toml'\n", f"r{k}.toml")
    write(tmp_path, "name = 'root'\n", "r1200.toml")
    with pytest.raises(Vr2Error, match=rf"r0.toml: `extends` chain is deeper than {MAX_EXTENDS_DEPTH}"):
        load_recipe(tmp_path / "r0.toml")
    # a chain within the limit still works
    assert load_recipe(tmp_path / f"r{1200 - MAX_EXTENDS_DEPTH + 1}.toml").name == "root"


def test_a_saved_recipe_never_holds_url_credentials():
    from vr2.config import dump_toml

    recipe = load_recipe(None, ['judge.url="http://bob:pw1@judge:8000/v1"',
                                'curate.teacher_url=["https://ann:pw2@t1/v1", "http://t2/v1"]'])
    text = dump_toml(recipe)
    assert "pw1" not in text and "pw2" not in text and "bob" not in text
    assert "http://[redacted]@judge:8000/v1" in text and "http://t2/v1" in text
