"""Split and write: join the shards' ranked samples, split them into SFT and GRPO, and write the
datasets in the released Video-R2 format, `manifest.json` and `report.html` (see
`vr2.curate.pipeline` for the stages before).

The join streams: each shard's database gives its samples in key order and they are merged as
they come, so memory holds the split's keys and the statistics, not the samples. Before anything
is written the join checks the shards against each other and against the recipe: each shard
records the settings that shape its output (`shard_settings`), and a shard made with another
teacher, filter or ranking is refused, as is a shard holding another shard's samples (a folder
copied over another) or a key that two shards hold.

A multiple-choice answer is written as the released rows write it: `<answer>B. the option's
text</answer>` (`curate.choice_answer = "letter_and_text"`, the default), or as the bare letter
(`"letter"`). The release's reward reads the first letter of the answer either way
(`normalize_mcq`); what SFT teaches the model to write is what differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vr2.config import redact_urls, section_dict
from vr2.curate.report import render_report
from vr2.curate.state import FILE as STATE_FILE, Shard, State
from vr2.curate.teacher import sample_frames
from vr2.errors import Vr2Error
from vr2.files import dumps_json, plain_file_mode, write_atomic
from vr2.model.prompts import option_letter, release_human_turn, strip_label
from vr2.scoring.format import parse_completion
from vr2.scoring.timestamps import find_times
from vr2.video.sampling import video_settings

SHARD_STAGES = ("ingest", "verify", "rank", "settings")
TOKEN_BATCH = 256
EXAMPLES_PER_SOURCE = 2  # kept and rejected samples shown per source in the report
EXAMPLE_FRAMES = 4  # frames shown per example, nearest to its cited times
EXAMPLE_FRAME_WIDTH = 160

# --------------------------------------------------------------------------- 5. split


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8")).hexdigest()


def _apportion(sizes: dict[Any, int], total: int) -> dict[Any, int]:
    """Integer shares of `total` proportional to `sizes` (largest remainder, ties by name)."""
    n = sum(sizes.values())
    if n == 0:
        return {k: 0 for k in sizes}
    exact = {k: total * v / n for k, v in sizes.items()}
    out = {k: int(v) for k, v in exact.items()}
    rest = sorted(sizes, key=lambda k: (-(exact[k] - out[k]), str(k)))
    for k in rest[: total - sum(out.values())]:
        out[k] += 1
    return out


def _bin(difficulty: float | None) -> int:
    return -1 if difficulty is None else min(4, int(difficulty * 5))


def split_records(records: Sequence[dict], settings) -> tuple[list[dict], list[dict]]:
    """(sft, grpo), stratified by source and difficulty, deterministic for a seed.

    The GRPO share of each stratum is apportioned from round(N * (1 - sft_fraction)). With
    `grpo_end = "hard"` (the default) a stratum is its source, ordered by difficulty, and GRPO
    takes its hardest samples (so RL spends its rollouts where SFT alone is least sure); "easy"
    takes the easiest; "random" stratifies by source and difficulty bin (fifths) and takes a
    seeded random part of each. Ties in difficulty are broken by a hash of (seed, key).
    """
    by_random = settings.grpo_end == "random" or all(r.get("difficulty") is None for r in records)
    strata: dict[Any, list[dict]] = defaultdict(list)
    for r in records:
        strata[(r["source"], _bin(r.get("difficulty"))) if by_random else r["source"]].append(r)
    want = _apportion({k: len(v) for k, v in strata.items()},
                      round(len(records) * (1 - settings.sft_fraction)))
    grpo_keys = set()
    for name, group in strata.items():
        if by_random:
            group = sorted(group, key=lambda r: _order(settings.split_seed, r["key"]))
        else:
            sign = -1 if settings.grpo_end == "hard" else 1
            group = sorted(group, key=lambda r: (sign * r["difficulty"], _order(settings.split_seed, r["key"])))
        grpo_keys.update(r["key"] for r in group[: want[name]])
    sft = [r for r in records if r["key"] not in grpo_keys]
    grpo = [r for r in records if r["key"] in grpo_keys]
    return sft, grpo


def cap_records(records: list[dict], settings) -> tuple[list[dict], int]:
    """At most `max_samples`, hardest first (ties by seeded hash); returns (kept, dropped)."""
    if not settings.max_samples or len(records) <= settings.max_samples:
        return records, 0
    ranked = sorted(records, key=lambda r: (-(r.get("difficulty") or 0.0), _order(settings.split_seed, r["key"])))
    keep = {r["key"] for r in ranked[: settings.max_samples]}
    return [r for r in records if r["key"] in keep], len(records) - len(keep)


# --------------------------------------------------------------------------- joining shards


def shard_settings(recipe, teacher_fp: str) -> dict:
    """The settings that shape a shard's samples: a merge refuses shards that differ in any."""
    c = recipe.curate
    out = {"teacher": teacher_fp, "curate.sources": list(c.sources)}
    for name in ("min_duration", "max_duration", "min_claims", "min_tar", "min_graded_accuracy", "rank",
                 "min_difficulty", "max_difficulty"):
        out[f"curate.{name}"] = getattr(c, name)
    if c.rank == "pass_rate":
        out.update({"curate.pass_rate_k": c.pass_rate_k, "curate.pass_rate_temperature": c.pass_rate_temperature,
                    "model.name_or_path": recipe.model.name_or_path})
    tar = json.dumps(section_dict(recipe.tar), sort_keys=True, default=str)
    out["tar"] = hashlib.sha256(tar.encode()).hexdigest()[:16]
    return out


def _describe(name: str, value: Any) -> str:
    if name == "teacher":
        return "another teacher (model, temperature, seed, max_tokens, frames or prompt)"
    if name == "tar":
        return "other [tar] settings"
    return f"{name} = {json.dumps(value)}"


def shard_sets(out: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = defaultdict(list)
    for path in sorted((out / "work").glob("shard-*-of-*")):
        parts = path.name.split("-")
        if len(parts) == 4 and parts[1].isdigit() and parts[3].isdigit():
            found[int(parts[3])].append(path)
    return found


def _shard_count(out: Path, count: int | None) -> int:
    if count is not None:
        return count
    sets = shard_sets(out)
    if len(sets) != 1:
        raise Vr2Error(f"{out / 'work'}: found shard sets for N = {sorted(sets) or 'none'}; "
                       f"name one with --shard 0/N")
    return next(iter(sets))


class Joined:
    """The shards of one run, checked, with their statistics summed."""

    def __init__(self, out: Path, count: int | None, expected: dict | None):
        self.count = _shard_count(out, count)
        self.shards = [Shard(i, self.count) for i in range(self.count)]
        self.states: list[State] = []
        try:
            for shard in self.shards:
                self.states.append(self._open(out, shard, expected))
            self.stats, self.load, self.complete = self._sum()
            self.light = self._check_keys()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for state in self.states:
            state.close()

    def _open(self, out: Path, shard, expected: dict | None) -> State:
        folder = out / "work" / shard.name
        label = f"shard {shard.index}/{shard.count} ({folder})"
        if not (folder / STATE_FILE).is_file():
            raise Vr2Error(f"{label} has not run; run vr2 curate RECIPE --shard {shard.index}/{shard.count}")
        state = State(folder, create=False)
        self.states.append(state)  # closed with the others if a check below fails
        for stage in SHARD_STAGES:
            if state.stage(stage) is None:
                raise Vr2Error(f"{label} has not finished '{stage if stage != 'settings' else 'rank'}'; "
                               f"run vr2 curate RECIPE --shard {shard.index}/{shard.count}")
        settings = state.stage("settings")["info"]
        for name, value in (expected or {}).items():
            if settings.get(name) != value:
                raise Vr2Error(f"{label} was made with {_describe(name, settings.get(name))}, but this recipe "
                               f"has {_describe(name, value)}; remake that shard or merge with its settings")
        self.states.pop()
        return state

    def _sum(self) -> tuple[dict, dict, bool]:
        stats = {s: {"in": Counter(), "out": Counter(), "rejections": Counter()} for s in ("ingest", "verify", "rank")}
        load, complete = None, True
        for state in self.states:
            for stage in stats:
                done = state.stage(stage)
                try:
                    for part in ("in", "out", "rejections"):
                        stats[stage][part].update(done["info"]["stats"][part])
                except (KeyError, TypeError, ValueError):
                    raise Vr2Error(f"{state.path}: damaged curate state (stage {stage}); delete {state.folder} "
                                   f"to redo this shard") from None
                complete = complete and done["complete"]
            load = load or state.stage("ingest")["info"].get("load")
        joined = {stage: {part: dict(sorted(v.items())) for part, v in s.items()} for stage, s in stats.items()}
        return joined, load or {}, complete

    def _light(self, index: int) -> Iterator[tuple]:
        state, shard = self.states[index], self.shards[index]
        for key, source, video, difficulty in state.pages(
                "SELECT key, source, video, difficulty FROM ranked WHERE key > ? ORDER BY key LIMIT ?"):
            if not isinstance(video, str) or not shard.owns(video):
                raise Vr2Error(f"shard {shard.index}/{shard.count} ({state.folder}) holds samples of another "
                               f"shard (was its folder copied from another?); remake it")
            yield key, source, difficulty, index

    def _check_keys(self) -> list[dict]:
        """Every kept sample as {key, source, difficulty, shard}, in key order; refuses duplicates."""
        out, last = [], None
        for key, source, difficulty, index in heapq.merge(*(self._light(i) for i in range(self.count))):
            if last is not None and key == last["key"]:
                raise Vr2Error(f"sample '{key}' is in shard {last['shard']}/{self.count} and shard "
                               f"{index}/{self.count}; a key belongs to one shard: remake those shards")
            last = {"key": key, "source": source, "difficulty": difficulty, "shard": index}
            out.append(last)
        return out

    def records(self) -> Iterator[dict]:
        """Every kept sample, whole, in key order."""
        def rows(state: State) -> Iterator[tuple[str, dict]]:
            for key, data in state.pages("SELECT key, data FROM ranked WHERE key > ? ORDER BY key LIMIT ?"):
                yield key, state.json(data, f"ranked {key}")

        for _, record in heapq.merge(*(rows(s) for s in self.states), key=lambda item: item[0]):
            yield record


# --------------------------------------------------------------------------- 6. write


_ANSWER = re.compile(r"(<answer>)(.*?)(</answer>)", re.S | re.I)


def choice_answer(completion: str, record: dict, style: str) -> str:
    """The completion with a multiple-choice answer written in `style` (see the module docstring)."""
    if record["answer_type"] != "multiple_choice" or not record["options"]:
        return completion
    letter = str(record["answer"]).strip()[:1].upper()
    index = ord(letter) - ord("A")
    if not 0 <= index < len(record["options"]):
        return completion
    text = letter if style == "letter" else f"{letter}. {strip_label(record['options'][index], option_letter(index))}"
    return _ANSWER.sub(lambda m: m.group(1) + text + m.group(3), completion, count=1)


def release_row(record: dict, grpo: bool, choice_style: str = "letter_and_text") -> dict:
    """A row of the released Video-R2 format (what `vr2 sft` / `vr2 grpo` read)."""
    completion = choice_answer(record["completion"], record, choice_style)
    row = {"id": record["key"], "video": record["video"],
           "conversations": [{"from": "human", "value": release_human_turn(record["question"], record["options"])},
                             {"from": "assistant", "value": completion}],
           "answer_type": record["answer_type"], "source": record["source"],
           "source_id": record["source_id"], "difficulty": record.get("difficulty")}
    if record.get("start") is not None:
        row["start"] = record["start"]
    if record.get("end") is not None:
        row["end"] = record["end"]
    if grpo:
        row["temporal_grounding"] = record["temporal_grounding"]
    return row


class TokenCounter:
    """Reasoning lengths in tokens, counted a batch at a time with the recipe's tokenizer."""

    def __init__(self, tokenizer_path: str):
        self.path = tokenizer_path
        self.tokenizer = None
        self.waiting: list[str] = []
        self.counts: list[int] = []

    def add(self, completion: str) -> None:
        self.waiting.append(parse_completion(completion).think or "")
        if len(self.waiting) >= TOKEN_BATCH:
            self.flush()

    def flush(self) -> list[int]:
        if self.waiting:
            self.counts += [len(ids) for ids in self._load()(self.waiting, add_special_tokens=False)["input_ids"]]
            self.waiting = []
        return self.counts

    def _load(self):
        if self.tokenizer is None:
            try:
                from transformers import AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            except ImportError:
                raise Vr2Error("reasoning lengths need transformers: pip install transformers") from None
            except (OSError, ValueError) as error:
                raise Vr2Error(f"curate.tokenizer: cannot load a tokenizer from '{self.path}' ({error})") from None
        return self.tokenizer


class ArrayFile:
    """A JSON array written row by row to a temporary file beside `path`, renamed over it when
    whole (the text is what `json.dumps(rows, indent=1, sort_keys=True)` gives). A full disk or
    an unwritable folder is one line naming the file; nothing of the old file is lost."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0
        try:
            fd, self.temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.fchmod(fd, plain_file_mode())  # a data set is a normal file, not a private one
            self.handle = os.fdopen(fd, "w", encoding="utf-8")
        except OSError as error:
            raise Vr2Error(f"{path}: cannot write ({error.strerror or error})") from None

    def add(self, row: dict) -> None:
        text = json.dumps(row, ensure_ascii=False, indent=1, sort_keys=True)
        self._write(("[\n" if not self.rows else ",\n") + "\n".join(" " + line for line in text.split("\n")))
        self.rows += 1

    def close(self) -> None:
        self._write("\n]\n" if self.rows else "[]\n")
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.temp, self.path)
        except OSError as error:
            self.abandon()
            raise Vr2Error(f"{self.path}: cannot write ({error.strerror or error})") from None

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(OSError):
            os.unlink(self.temp)

    def _write(self, text: str) -> None:
        try:
            self.handle.write(text)
        except OSError as error:
            self.abandon()
            raise Vr2Error(f"{self.path}: cannot write ({error.strerror or error}); the previous file is "
                           f"untouched") from None


def summary(values: Sequence[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {"count": n, "mean": round(sum(ordered) / n, 3), "median": round(median, 3),
            "min": round(ordered[0], 3), "max": round(ordered[-1], 3)}


def histogram(values: Sequence[float], edges: Sequence[float]) -> dict[str, int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin also takes everything above."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        i = max(0, min(len(counts) - 1, next((j for j in range(len(counts)) if v < edges[j + 1]), len(counts) - 1)))
        counts[i] += 1
    return {f"{edges[i]:g}-{edges[i + 1]:g}": counts[i] for i in range(len(counts))}


DURATION_EDGES = (0, 15, 30, 60, 120, 180, 300, 600, float("inf"))
TOKEN_EDGES = (0, 100, 200, 300, 400, 500, 600, 800, 1000, float("inf"))
DIFFICULTY_EDGES = (0, 0.2, 0.4, 0.6, 0.8, 1.0000001)


class Tally:
    """What the manifest says about the written samples, gathered as they are written."""

    def __init__(self):
        self.samples = Counter()
        self.per_source: dict[str, Counter] = defaultdict(Counter)
        self.videos: dict[str, set] = defaultdict(set)
        self.durations: list[float] = []
        self.difficulties: list[float] = []
        self.answer_types = Counter()
        self.examples: dict[str, list[dict]] = defaultdict(list)

    def add(self, record: dict, split: str, row: dict) -> None:
        self.samples[split] += 1
        self.per_source[record["source"]][split] += 1
        self.videos[split].add(record["video"])
        self.videos["total"].add(record["video"])
        self.durations.append(record["duration"])
        if record.get("difficulty") is not None:
            self.difficulties.append(record["difficulty"])
        self.answer_types[record["answer_type"]] += 1
        if len(self.examples[record["source"]]) < EXAMPLES_PER_SOURCE:
            completion = row["conversations"][1]["value"]
            self.examples[record["source"]].append({**record, "completion": completion, "verdict": "kept",
                                                    "split": split})


def build_manifest(recipe, teacher_info: dict, tally: Tally, joined: Joined, capped: int, tokens: list[int]) -> dict:
    per_source: dict[str, dict] = defaultdict(dict)
    for source, n in joined.load.get("loaded", {}).items():
        per_source[source]["loaded"] = n
    for stage, s in joined.stats.items():
        for source, n in s["out"].items():
            per_source[source][stage] = n
    for source, counts in tally.per_source.items():
        per_source[source].update(counts)
    rejections = {stage: s["rejections"] for stage, s in joined.stats.items()}
    if capped:
        rejections["split"] = {"over max_samples": capped}
    settings = section_dict(recipe.curate)
    settings["teacher_url"] = redact_urls(settings["teacher_url"])
    return {
        "recipe": recipe.name,
        "counts": {"per_source": {k: per_source[k] for k in sorted(per_source)},
                   "samples": {"sft": tally.samples["sft"], "grpo": tally.samples["grpo"],
                               "total": tally.samples["sft"] + tally.samples["grpo"]},
                   "videos": {name: len(tally.videos[name]) for name in ("sft", "grpo", "total")}},
        "bad_rows": {"count": joined.load.get("bad_rows", 0), "listed": joined.load.get("bad_rows_listed", [])},
        "duplicates": dict(sorted(joined.load.get("duplicates", {}).items())),
        "rejections": rejections,
        "video_duration_s": {**summary(tally.durations), "histogram": histogram(tally.durations, DURATION_EDGES)},
        "reasoning_tokens": {**summary(tokens), "histogram": histogram(tokens, TOKEN_EDGES),
                             "tokenizer": tokenizer_of(recipe)},
        "difficulty": {**summary(tally.difficulties), "method": recipe.curate.rank,
                       "histogram": histogram(tally.difficulties, DIFFICULTY_EDGES)},
        "answer_types": dict(sorted(tally.answer_types.items())),
        "settings": {"curate": settings, "video": section_dict(recipe.video),
                     "tar": section_dict(recipe.tar),
                     "model": recipe.model.name_or_path},
        "teacher": teacher_info,
        # False while teacher calls or ratings failed: run again to ask them again.
        "complete": joined.complete,
    }


def tokenizer_of(recipe) -> str:
    return recipe.curate.tokenizer or recipe.model.name_or_path


def split_and_write(recipe, out: Path, count: int | None, teacher_info: dict, progress=None,
                    write: bool = True, expected: dict | None = None) -> dict:
    """Join the shards, split, and (with `write`) write the datasets, manifest and report."""
    progress = progress or (lambda *a: None)
    if write:
        check_output(out)
    joined = Joined(out, count, expected)
    try:
        light, capped = cap_records(joined.light, recipe.curate)
        sft, grpo = split_records(light, recipe.curate)
        progress("split", 1, 1)
        split = {"sft": [r["key"] for r in sft], "grpo": [r["key"] for r in grpo]}
        write_atomic(out / "work" / "split.json", json.dumps(split, indent=1) + "\n", "curate split")
        if not write:
            return {"sft": len(sft), "grpo": len(grpo)}
        manifest = _write(recipe, out, joined, split, teacher_info, capped)
    finally:
        joined.close()
    progress("write", 1, 1)
    return manifest


def _write(recipe, out: Path, joined: Joined, split: dict, teacher_info: dict, capped: int) -> dict:
    where = {key: name for name in ("sft", "grpo") for key in split[name]}
    files = {name: ArrayFile(out / f"{name}.json") for name in ("sft", "grpo")}
    tally, tokens = Tally(), TokenCounter(tokenizer_of(recipe))
    try:
        for record in joined.records():
            name = where.get(record["key"])
            if name is None:  # over max_samples
                continue
            row = release_row(record, name == "grpo", recipe.curate.choice_answer)
            files[name].add(row)
            tally.add(record, name, row)
            tokens.add(record["completion"])
        counts = tokens.flush()
    except BaseException:
        for file in files.values():
            file.abandon()
        raise
    manifest = build_manifest(recipe, {**teacher_info, **endpoint_summary(joined)}, tally, joined, capped, counts)
    for file in files.values():
        file.close()
    write_atomic(out / "manifest.json", dumps_json(manifest, ensure_ascii=False, indent=1) + "\n", "curate manifest")
    examples = {source: {"kept": [example(recipe, r) for r in kept],
                         "rejected": [example(recipe, r) for r in rejected_examples(joined).get(source, [])]}
                for source, kept in tally.examples.items()}
    write_atomic(out / "report.html", render_report(manifest, examples), "curate report")
    return manifest


def rejected_examples(joined: Joined) -> dict[str, list[dict]]:
    """The first rejected samples (in key order, over all shards) per source that have a trace."""
    found: dict[str, list[dict]] = defaultdict(list)
    for state in joined.states:
        teacher = state.stage("verify")["info"].get("teacher")
        mine: Counter = Counter()
        for key, source, data, entry, reason in state.pages(
                "SELECT r.key, r.source, r.data, t.data, v.reason FROM verify v JOIN records r ON r.key = v.key "
                "JOIN teach t ON t.key = v.key AND t.teacher = ? WHERE v.kept = 0 AND t.status = 'ok' "
                "AND r.key > ? ORDER BY r.key LIMIT ?", (teacher,)):
            if mine[source] < EXAMPLES_PER_SOURCE:
                mine[source] += 1
                found[source].append({**state.json(data, f"record {key}"), "verdict": "rejected", "reason": reason,
                                      "completion": state.json(entry, f"teach entry {key}").get("completion", "")})
    return {s: sorted(rows, key=lambda r: r["key"])[:EXAMPLES_PER_SOURCE] for s, rows in found.items()}


def example(recipe, record: dict) -> dict:
    """What the report shows of one sample, with the teacher's frames nearest each cited time."""
    parts = parse_completion(record["completion"])
    think = parts.think or record["completion"]
    frames: list = []
    try:
        options = video_settings(recipe.video).frame_options()
        sampled = sample_frames(str(Path(recipe.curate.video_dir) / record["video"]), None, options,
                                EXAMPLE_FRAME_WIDTH, record.get("start"), record.get("end"))[0]
        for mention in find_times(think):
            if sampled and len(frames) < EXAMPLE_FRAMES:
                nearest = min(sampled, key=lambda f: abs(f[0] - mention.start))
                if nearest not in frames:
                    frames.append(nearest)
    except Vr2Error:  # a video that no longer decodes: the example without its frames
        frames = []
    return {"key": record["key"], "video": record["video"], "question": record["question"],
            "options": record["options"], "think": think, "answer": parts.answer, "gold": record["answer"],
            "verdict": record["verdict"], "reason": record.get("reason"), "tar": record.get("tar"),
            "split": record.get("split"), "frames": sorted(frames)}


def endpoint_summary(joined: Joined) -> dict:
    """Which endpoint answered each teacher call of the stored replies (`teach KEY`, `rate KEY`;
    a cached reply names the endpoint that first gave it) and how many each answered. Failures
    belong to a run, not to the data: `vr2 curate` prints them."""
    calls = {}
    for state in joined.states:
        teacher = state.stage("verify")["info"].get("teacher")
        for key, data in state.pages("SELECT key, data FROM teach WHERE teacher = ? AND key > ? ORDER BY key "
                                     "LIMIT ?", (teacher,)):
            endpoint = state.json(data, f"teach entry {key}").get("endpoint")
            if endpoint:
                calls[f"teach {key}"] = endpoint
        for key, endpoint in state.pages("SELECT key, endpoint FROM rank WHERE endpoint != '' AND key > ? "
                                         "ORDER BY key LIMIT ?"):
            calls[f"rate {key}"] = endpoint
    if not calls:
        return {}
    return {"endpoints": {e: {"answered": n} for e, n in sorted(Counter(calls.values()).items())},
            "calls": dict(sorted(calls.items()))}


def check_output(out: Path) -> None:
    """Refuse to replace datasets that an earlier `vr2 curate` did not write (no manifest beside them)."""
    if (out / "manifest.json").is_file():
        return
    for name in ("sft.json", "grpo.json"):
        if (out / name).exists():
            raise Vr2Error(f"{out / name}: exists and was not written by vr2 curate (no manifest.json beside it); "
                           f"choose another curate.output_dir")
