"""`vr2 explain VIDEO "QUESTION"`: answer one video question and show why it scores as it does."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vr2.cli import display
from vr2.cli.options import RecipeOption, SetOption, finite, load
from vr2.explain import explanation
from vr2.explain import html as html_report
from vr2.scoring.batch import to_json


def explain(
    video: Path = typer.Argument(..., metavar="VIDEO", show_default=False, help="Video file (mp4, mkv, webm, ...); <stem>.srt next to it is drawn as subtitles."),
    question: str = typer.Argument(..., metavar="QUESTION", show_default=False, help="The question to ask about the video."),
    options: list[str] = typer.Option([], "--options", "--option", "-O",
                                      help='An answer option, e.g. "A. a red car" (repeat for each option).'),
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Hub id or local folder (default: the recipe's model.name_or_path "
                                        "if it sets one, else the released MBZUAI/Video-R2)."),
    ref: Optional[Path] = typer.Option(None, "--ref", help="Reference JSON {temporal_grounding, answer?, "
                                       "answer_type?, options?} or a bare {timestamp: sentence}: adds TAR."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a self-contained HTML report here."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --html file."),
    completion: Optional[Path] = typer.Option(None, "--completion", help="Explain this completion (text, or JSON "
                                              "with 'completion') instead of generating one; with --no-vas no model is loaded."),
    answer_type: Optional[str] = typer.Option(None, "--answer-type", help="multiple_choice, numeric, regression, "
                                              "ocr or free_form (default: from the reference or the options)."),
    fps: Optional[float] = typer.Option(None, "--fps", callback=finite, help="Frames per second to sample (default 2, the paper's eval)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="At most this many frames (default 128)."),
    min_pixels: Optional[int] = typer.Option(None, "--min-pixels", help="Smallest frame area (default 100,352)."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Largest frame area (default 151,200 = 360x420)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Generation limit (default 1024)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", callback=finite, help="Sampling temperature (default 0: greedy)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (default), cpu, cuda, cuda:1, ..."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto (default), bfloat16, float16 or float32."),
    no_vas: bool = typer.Option(False, "--no-vas", help="Skip the attention analysis (VAS)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the terminal view."),
    recipe: Optional[Path] = RecipeOption,
    sets: list[str] = SetOption,
) -> None:
    """Answer a video question and explain it: cited times and their frames, TAC, VAS, TAR (--ref), HTML report."""
    from rich.markup import escape


    config = load(recipe, sets, {
        "video.fps": fps, "video.max_frames": max_frames, "video.min_pixels": min_pixels,
        "video.max_pixels": max_pixels, "eval.max_new_tokens": max_new_tokens,
        "eval.temperature": temperature, "model.device": device, "model.dtype": dtype,
    })
    # Check every input before the slow steps (video decoding, model loading, generation).
    if html is not None:
        html_report.check_output(html, force)
    reference = explanation.load_reference_file(ref) if ref is not None else None
    given = explanation.read_completion(completion) if completion is not None else None
    result = explanation.run_explain(
        video, question, options, recipe=config, model=model, reference=reference, completion=given,
        answer_type=answer_type, vas=not no_vas and config.eval.vas_attn,
        progress=lambda message: display.err_console.print(f"[dim]{escape(message)} ...[/dim]", highlight=False),
    )
    if as_json:
        typer.echo(to_json(result.to_dict(), indent=2))  # valid JSON even if a value is NaN
    else:
        display.print_explanation(result)
    if html is not None:
        path = html_report.write_report(result, html, force=force)
        display.err_console.print(f"report written to [bold]{escape(str(path))}[/bold]", highlight=False)
