"""`vr2`: the entry point. Subcommands live one per module next to this file.

The conventions every subcommand follows (tests/cli/test_conventions.py checks them):
- the recipe is the first positional argument (RECIPE) wherever a command is driven by one; a command
  whose positional slots hold its input (score TRACE, explain VIDEO QUESTION) takes `--recipe` instead;
- `-s/--set section.key=value` wherever a recipe is read;
- `-o/--output` is always a path the command writes to; `--force` always means "replace what the
  command would otherwise refuse to overwrite";
- `--json` on every command that prints a table; `-h` as well as `--help`.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from vr2.cli import curate as curate_cmd
from vr2.cli import download as download_cmd
from vr2.cli import eval as eval_cmd
from vr2.cli import explain as explain_cmd
from vr2.cli import grpo as grpo_cmd
from vr2.cli import plugins as plugins_cmd
from vr2.cli import recipe as recipe_cmd
from vr2.cli import score as score_cmd
from vr2.cli import sft as sft_cmd
from vr2.cli import synthetic as synthetic_cmd
from vr2.cli import tiny_model as tiny_model_cmd
from vr2.errors import Vr2Error

WORKFLOW = "Workflow"
TOOLS = "Tools"
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


def _show_flags_as_flags() -> None:
    """Typer 0.29 labels every flag `<bool>` in help, as if it took a value; a flag takes none."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "vr2_flags", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.vr2_flags = True
    TyperOption.display_type_rich = display_type_rich


_show_flags_as_flags()

app = typer.Typer(
    name="vr2",
    help="Train and audit grounded video reasoning (Video-R2: TAR, TAC, VAS).\n\n"
         "Commands that run from a recipe take it as the first argument, RECIPE; score and explain, whose "
         "arguments are their input, take --recipe. -s section.key=value overrides a recipe key wherever one "
         "is read; -o is where a command writes; --force replaces what it would otherwise refuse to.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # help panels; help strings escape their brackets (\\[eval]), a test checks
    context_settings=HELP_OPTIONS,
)
# In the order of the workflow: make data, train, evaluate, inspect; then the tools.
app.command("curate", rich_help_panel=WORKFLOW)(curate_cmd.curate)
app.command("sft", rich_help_panel=WORKFLOW)(sft_cmd.sft)
app.command("grpo", rich_help_panel=WORKFLOW)(grpo_cmd.grpo)
app.command("eval", rich_help_panel=WORKFLOW)(eval_cmd.eval_command)
app.command("score", rich_help_panel=WORKFLOW)(score_cmd.score)
app.command("explain", rich_help_panel=WORKFLOW)(explain_cmd.explain)
app.command("download", rich_help_panel=TOOLS)(download_cmd.download)
app.command("plugins", rich_help_panel=TOOLS)(plugins_cmd.plugins)
app.add_typer(recipe_cmd.app, name="recipe", rich_help_panel=TOOLS)
app.command("synthetic", rich_help_panel=TOOLS)(synthetic_cmd.synthetic)
app.command("tiny-model", rich_help_panel=TOOLS)(tiny_model_cmd.run)


def _print_version(value: bool) -> None:
    if value:
        from vr2 import __version__

        typer.echo(f"vr2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_print_version, is_eager=True,
                                           help="Print vr2's version and exit."),
) -> None:
    """Train and audit grounded video reasoning (Video-R2: TAR, TAC, VAS)."""


def main() -> None:
    """Run the CLI; a Vr2Error becomes one line on stderr and exit code 2, no traceback."""
    try:
        app(prog_name="vr2")
    except Vr2Error as exc:
        print(f"vr2: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("vr2: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
