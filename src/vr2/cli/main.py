"""`vr2`: the entry point. Subcommands live one per module next to this file."""

from __future__ import annotations

import sys

import typer

from vr2.cli import curate as curate_cmd
from vr2.cli import plugins as plugins_cmd
from vr2.cli import recipe as recipe_cmd
from vr2.cli import score as score_cmd
from vr2.cli import tiny_model as tiny_model_cmd
from vr2.cli import eval as eval_cmd
from vr2.cli import explain as explain_cmd
from vr2.cli import grpo as grpo_cmd
from vr2.cli import sft as sft_cmd
from vr2.cli import synthetic as synthetic_cmd
from vr2.errors import Vr2Error

app = typer.Typer(
    name="vr2",
    help="Train and audit grounded video reasoning (Video-R2: TAR, TAC, VAS).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("score")(score_cmd.score)
app.command("explain")(explain_cmd.explain)
app.command("eval")(eval_cmd.eval_command)
app.command("plugins")(plugins_cmd.plugins)
app.add_typer(recipe_cmd.app, name="recipe")
app.command("tiny-model")(tiny_model_cmd.run)
app.command("sft")(sft_cmd.sft)
app.command("grpo")(grpo_cmd.grpo)
app.command("synthetic")(synthetic_cmd.synthetic)
app.command("curate")(curate_cmd.curate)


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
