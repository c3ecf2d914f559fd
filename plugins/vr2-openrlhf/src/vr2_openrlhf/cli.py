"""`vr2-openrlhf RECIPE`: prepare an OpenRLHF GRPO run from a vr2 recipe, print or launch it.

The same as `vr2 grpo RECIPE` with `trainer.backend = "openrlhf"`, plus the launch settings a
recipe does not hold (GPUs, nodes, extra OpenRLHF flags) and `--dry-run`, which writes the run's
files and prints the command without starting anything (it works without openrlhf installed).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from typing import Sequence

from vr2 import Vr2Error
from vr2 import __version__ as vr2_version


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vr2-openrlhf")
    except PackageNotFoundError:  # run from the source tree, not installed
        return "0+unknown"


def parser() -> argparse.ArgumentParser:
    # The same conventions as `vr2`: RECIPE first, -s/--set overrides, -h/--help, --version.
    p = argparse.ArgumentParser(prog="vr2-openrlhf", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"vr2-openrlhf {_version()} (vr2 {vr2_version})")
    p.add_argument("recipe", metavar="RECIPE", help="vr2 GRPO recipe (TOML)")
    p.add_argument("-s", "--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe key (repeatable), e.g. -s grpo.num_generations=4")
    p.add_argument("--resume", action="store_true", help="continue from the run's OpenRLHF checkpoint")
    p.add_argument("--dry-run", action="store_true", help="write the files and print the command; launch nothing")
    p.add_argument("--gpus", type=int, help="GPUs per node (default: VR2_OPENRLHF_GPUS or the visible GPUs)")
    p.add_argument("--nodes", type=int, help="nodes (default: VR2_OPENRLHF_NODES or 1)")
    p.add_argument("--extra", default="", help="extra train_ppo_ray flags, shell syntax, appended last")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from vr2 import load_recipe

        from vr2_openrlhf.backend import OpenRLHFBackend
        from vr2_openrlhf.command import Launch

        launch = Launch.from_env()
        changes = {"dry_run": launch.dry_run or args.dry_run,
                   "extra_args": launch.extra_args + tuple(shlex.split(args.extra))}
        for name, value in (("gpus_per_node", args.gpus), ("nodes", args.nodes)):
            if value is not None:
                if value < 1:
                    raise Vr2Error(f"--{name.split('_')[0]}: must be >= 1, got {value}")
                changes[name] = value
        recipe = load_recipe(args.recipe, args.sets)
        path = OpenRLHFBackend(replace(launch, **changes)).grpo(recipe, resume=args.resume)
    except Vr2Error as exc:
        print(f"vr2-openrlhf: error: {exc}", file=sys.stderr)
        return 2
    print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
