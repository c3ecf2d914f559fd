"""The command line's conventions hold on every command (the rules are in vr2.cli.main's docstring)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from rich.text import Text

from cli_helpers import run_vr2
from vr2.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "tar_gated.toml"
WORKFLOW = ["curate", "sft", "grpo", "eval", "score", "explain"]
TOOLS = ["download", "plugins", "recipe", "synthetic", "tiny-model"]


def commands(group=None, path=()):
    """(words, click command) for every leaf command, e.g. (("recipe", "show"), <Command>)."""
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = dict(commands())


def options(command) -> dict[str, object]:
    return {opt: p for p in command.params for opt in p.opts if opt.startswith("-")}


def recipe_slot(command) -> str | None:
    """'positional', 'flag' or None: how the command takes a recipe."""
    if any(p.param_type_name == "argument" and p.metavar == "RECIPE" for p in command.params):
        return "positional"
    return "flag" if "--recipe" in options(command) else None


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # help lines are not wrapped


def test_every_command_is_checked_here():
    assert {words[0] for words in COMMANDS} == set(WORKFLOW + TOOLS)


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_dash_h_is_help_on_every_command(words, capsys, wide):
    result = run_vr2(capsys, *words, "-h")
    assert result.code == 0, result.err
    assert f"Usage: vr2 {' '.join(words)}" in result.out
    assert "<bool>" not in result.out  # a flag is shown as a flag, not as taking a value
    assert result.out == run_vr2(capsys, *words, "--help").out


def test_top_level_help_lists_the_workflow_then_the_tools(capsys, wide):
    result = run_vr2(capsys, "-h")
    assert result.code == 0 and "<bool>" not in result.out
    workflow, tools = result.out.split("Workflow", 1)[1].split("Tools", 1)
    found = [re.search(rf"│ {re.escape(name)} ", workflow) for name in WORKFLOW]
    assert all(found) and [m.start() for m in found] == sorted(m.start() for m in found)
    assert all(re.search(rf"│ {re.escape(name)} ", tools) for name in TOOLS)


def test_version_prints_the_package_version(capsys):
    from vr2 import __version__

    result = run_vr2(capsys, "--version")
    assert result.code == 0 and result.out.strip() == f"vr2 {__version__}"


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_recipe_is_positional_unless_the_slots_hold_the_input(words):
    command = COMMANDS[words]
    slot = recipe_slot(command)
    other_arguments = [p for p in command.params if p.param_type_name == "argument" and p.metavar != "RECIPE"]
    if slot == "flag":
        assert other_arguments, f"vr2 {' '.join(words)}: no positional input, so RECIPE should be positional"
    if slot == "positional":
        assert not other_arguments


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_every_command_that_reads_a_recipe_takes_dash_s(words):
    command = COMMANDS[words]
    reads_recipe = recipe_slot(command) is not None
    assert reads_recipe == ("-s" in options(command)), words
    if reads_recipe:
        assert options(command)["-s"] is options(command)["--set"]


def test_the_recipe_commands_are_the_ones_expected():
    slots = {" ".join(w): recipe_slot(c) for w, c in COMMANDS.items() if recipe_slot(c)}
    assert slots == {"curate": "positional", "sft": "positional", "grpo": "positional", "eval": "positional",
                     "plugins": "positional", "recipe validate": "positional", "recipe show": "positional",
                     "score": "flag", "explain": "flag"}


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_dash_o_is_always_an_output_path(words):
    found = options(COMMANDS[words])
    if "-o" in found:
        assert "--output" in found["-o"].opts
    if "--output" in found:
        assert "-o" in found["--output"].opts


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_force_always_means_replace_what_would_be_refused(words):
    force = options(COMMANDS[words]).get("--force")
    if force is not None:
        assert re.search(r"overwrite|replace", force.help, re.I), force.help


@pytest.mark.parametrize("words", [("plugins",), ("eval",), ("score",), ("explain",), ("sft",), ("grpo",)],
                         ids=" ".join)
def test_commands_that_print_tables_have_json(words):
    assert "--json" in options(COMMANDS[words])


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_help_texts_render_literally(words):
    """Rich markup would eat `[eval]`; every bracket in a help text must be escaped (`\\[eval]`)."""
    command = COMMANDS[words]
    for text in [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]:
        assert Text.from_markup(text).plain == text.replace("\\[", "["), text


def test_eval_help_shows_the_section_name_in_brackets(capsys, wide):
    result = run_vr2(capsys, "eval", "--help")
    assert "[eval]" in result.out


def test_plugins_json_parses_and_marks_the_selection(capsys):
    result = run_vr2(capsys, "plugins", "--json", "-s", 'tar.embedder="sentence-transformers"')
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert {"plugin", "source", "hook", "kind", "component", "selected"} <= set(rows[0])
    chosen = {(r["kind"], r["component"]) for r in rows if r["selected"]}
    assert ("embedder", "sentence-transformers") in chosen and ("embedder", "minilm") not in chosen


def test_plugins_takes_the_recipe_positionally_and_by_its_old_flag(capsys):
    new = run_vr2(capsys, "plugins", str(RECIPE), "--json")
    old = run_vr2(capsys, "plugins", "--recipe", str(RECIPE), "--json")
    assert new.code == old.code == 0 and json.loads(new.out) == json.loads(old.out)
    both = run_vr2(capsys, "plugins", str(RECIPE), "--recipe", str(RECIPE))
    assert both.code == 2 and "once" in both.err


def test_recipe_validate_applies_overrides(capsys):
    assert run_vr2(capsys, "recipe", "validate", str(RECIPE), "-s", "tar.tau=0.8").code == 0
    bad = run_vr2(capsys, "recipe", "validate", str(RECIPE), "-s", "tar.no_such_key=1")
    assert bad.code == 2 and "no_such_key" in bad.err


def test_score_output_flag_and_its_old_spelling(tmp_path, capsys):
    trace = tmp_path / "batch.jsonl"
    trace.write_text(json.dumps({"completion": "<think>At 00:01 a dog runs.</think><answer>A</answer>",
                                 "temporal_grounding": {"00:01": "A dog runs."}, "answer": "A"}) + "\n")
    for flag, name in (("-o", "a.jsonl"), ("--output", "b.jsonl"), ("--out", "c.jsonl")):
        result = run_vr2(capsys, "score", str(trace), flag, str(tmp_path / name), "--json",
                         "--embedder", "minilm")
        assert result.code == 0, result.err
        assert (tmp_path / name).exists()

