"""The generated docs (plugin guide, recipe key table) are what `python -m vr2.devtools.docs` writes."""

import shutil
from pathlib import Path

from vr2.devtools import docs
from vr2.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]


def test_committed_docs_are_current():
    for path, text in docs.generated(ROOT / "docs").items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python -m vr2.devtools.docs"


def test_every_hook_has_a_section_and_every_recipe_key_a_row():
    guide = docs.plugin_guide()
    for name in (n for n in vars(hookspecs) if n.startswith("vr2_")):
        assert f"### `{name}`" in guide
    keys = docs.recipe_keys()
    assert "| `tau` | `float` | `0.75` | -1 <= x <= 1 |" in keys
    assert "| `matching` | `str` | `\"optimal\"` | `optimal`, `greedy` |" in keys


def test_check_reports_a_stale_file_and_writing_fixes_it(tmp_path, capsys):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "docs" / "plugins.md").write_text("old\n", encoding="utf-8")
    assert docs.main(["--docs", str(tmp_path / "docs"), "--check"]) == 1
    assert "plugins.md: stale" in capsys.readouterr().err
    assert docs.main(["--docs", str(tmp_path / "docs")]) == 0
    assert docs.main(["--docs", str(tmp_path / "docs"), "--check"]) == 0
