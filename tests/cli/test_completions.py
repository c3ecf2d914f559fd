"""Tab completion: the shipped scripts are current, and completion answers with real commands."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VR2 = [sys.executable, "-m", "vr2"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shipped_scripts_are_current(shell):
    from typer._completion_shared import get_completion_script

    expected = get_completion_script(prog_name="vr2", complete_var="_VR2_COMPLETE", shell=shell)
    assert (ROOT / "completions" / f"vr2.{shell}").read_text().strip() == expected.strip()


def complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_VR2_COMPLETE": "complete_bash"}
    out = subprocess.run(VR2, env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def test_bash_completes_subcommands_and_options():
    # invoked as `python -m vr2`, so the program word is "vr2" as in the shipped script
    assert "score" in complete("vr2 sc", 1)
    assert complete("vr2 score --buf", 2) == ["--buffer-seconds"]
    assert "validate" in complete("vr2 recipe va", 2)


def test_completion_offers_the_shared_flags():
    # the shipped scripts ask vr2 itself, so new flags complete without regenerating them
    assert complete("vr2 plugins --j", 2) == ["--json"]
    assert "--set" in complete("vr2 recipe validate --s", 3)
    assert "--version" in complete("vr2 --v", 1)
