"""The five public video-QA sources of the Video-R2 data, and vr2's own JSONL, as `Sample`s.

Each loader reads one file in the layout its dataset publishes and yields samples whose `video`
is relative to that source's video folder. Every sample keeps where it came from
(`extra["source"]`, `extra["source_id"]`) and an explicit `answer_type`. A row that cannot become
a sample is reported as `Skipped(row, reason)`; nothing is guessed in its place.

Layouts (as published):
- ``llava_video`` (LLaVA-Video-178K, one JSON per subset, e.g. ``*_mc_*_qa_processed.json``): a
  JSON array of ``{id, data_source, video, conversations: [{from: human, value}, {from: gpt,
  value}, ...]}``; each human/gpt pair is one question. Multiple-choice turns carry their options
  as lines "A. ..." and a gpt reply such as "B." or "B. text"; open-ended turns a free answer.
- ``nextqa`` (NExT-QA multiple choice CSV): columns ``video, frame_count, width, height, question,
  answer, qid, type, a0..a4``; ``answer`` is the index of the right option. Videos are
  ``<video>.mp4``, or ``<folder>/<video>.mp4`` through ``map_vid_vidorID.json`` next to the CSV.
- ``activitynet_qa`` (ActivityNet-QA): ``<split>_q.json`` (``question, video_name, question_id``)
  with its ``<split>_a.json`` (``answer, type, question_id``) beside it; either file may be named.
  Videos are ``v_<video_name>.mp4``. Type 7 ("number") with a numeric answer is ``numeric``;
  everything else is ``free_form``.
- ``perception_test`` (Perception Test multiple-choice QA): a JSON object keyed by video id, each
  ``{metadata: {video_id}, mc_question: [{id, question, options, answer_id, area, ...}]}``.
  Videos are ``<video_id>.mp4``.
- ``clevrer`` (CLEVRER questions): a JSON array of ``{scene_index, video_filename, questions:
  [{question_id, question, question_type, answer} or {..., choices: [{choice_id, choice,
  answer: correct|wrong}]}]}``. Questions with choices become multiple choice when exactly one
  choice is correct. CLEVRER writes many explanatory and counterfactual questions with several
  correct choices: by default (`curate.clevrer_multi = "per_choice"`) each choice becomes a yes/no
  question of its own (key `<scene>#<question>#<choice>`, options yes/no); with "skip" they are
  reported as skipped rows and counted. Descriptive ones are numeric (counts) or free form. Videos are
  ``video_XXXXX.mp4``, also looked up in CLEVRER's ``video_10000-11000/`` style folders.
- ``jsonl``: vr2's own rows (`vr2.data.datasets` plain fields), e.g. a user's own videos and questions.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vr2.data.datasets import (
    BadRow,
    RowContext,
    Skipped,
    check_options,
    iter_samples,
    finish_answer,
    read_rows,
    split_question_options,
)
from vr2.errors import Vr2Error
from vr2.files import MAX_DATA_FILE_BYTES, loads_json, read_text
from vr2.samples import Sample
from vr2.scoring.answers import infer_answer_type, is_pure_number

Row = Sample | Skipped


@dataclass(frozen=True)
class SourceSpec:
    """One `[curate] sources` entry: `KIND=FILE` or `KIND=FILE=VIDEO_SUBDIR`."""

    kind: str
    file: Path
    videos: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        parts = [p.strip() for p in text.split("=")]
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise Vr2Error(f"curate.sources: '{text}' is not KIND=FILE or KIND=FILE=VIDEO_SUBDIR")
        if parts[0] not in LOADERS:
            raise Vr2Error(f"curate.sources: unknown kind '{parts[0]}' (allowed: {', '.join(LOADERS)})")
        return cls(parts[0], Path(parts[1]), parts[2] if len(parts) == 3 else "")


def _make(kind: str, source_id: Any, video: str, question: Any, options: list[str], answer: Any,
          answer_type: str | None, **extra: Any) -> Sample:
    if not isinstance(question, str) or not question.strip():
        raise BadRow("no question")
    if not isinstance(video, str) or not video.strip():
        raise BadRow("no video")
    answer, answer_type = finish_answer(answer, answer_type, options)
    return Sample(id=f"{kind}/{source_id}", video=video.strip(), question=question.strip(),
                  options=options, answer=answer, answer_type=answer_type,
                  extra={"source": kind, "source_id": str(source_id), **extra})


def _each(number: int, items: list, convert: Callable[[Any], Sample | list[Sample]]) -> list[Row]:
    """Convert the questions of one row one by one (a question may give several samples): a bad
    question skips only itself."""
    out: list[Row] = []
    for item in items:
        try:
            made = convert(item)
        except BadRow as error:
            out.append(Skipped(number, str(error)))
            continue
        out += made if isinstance(made, list) else [made]
    return out


def _guarded(rows: Iterator[tuple[int, Callable[[], list[Row]]]]) -> Iterator[Row]:
    """Run each row's conversion; a BadRow becomes Skipped(row, reason)."""
    for number, convert in rows:
        try:
            yield from convert()
        except BadRow as error:
            yield Skipped(number, str(error))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            yield Skipped(number, f"malformed row ({type(error).__name__}: {error})")


def _json(path: Path) -> Any:
    # Bad syntax, nesting deeper than any source has, an integer of thousands of digits: one line.
    return loads_json(read_text(path, "source file", max_bytes=MAX_DATA_FILE_BYTES), str(path))


def _array(path: Path, data: Any) -> list:
    if not isinstance(data, list):
        raise Vr2Error(f"{path}: expected a JSON array of rows, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------------------------------------
# LLaVA-Video-178K

# LLaVA-Video's multiple-choice turns end with one instruction line telling the model to reply with
# the option letter; it is not part of the question. Recognised by shape, not by its exact words.
_LETTER_INSTRUCTION = re.compile(r"(?im)^[^\n]*\b(?:answer|respond|reply)\b[^\n]*\bletter\b[^\n]*\.?[ \t]*$")


def _llava_pairs(conversations: Any) -> list[tuple[str, str]]:
    if not isinstance(conversations, list) or not conversations:
        raise BadRow("conversations must be a non-empty list")
    pairs, human = [], None
    for turn in conversations:
        speaker = str(turn.get("from", "")).lower()
        if speaker == "human":
            human = turn["value"]
        elif speaker in ("gpt", "assistant") and human is not None:
            pairs.append((human, turn["value"]))
            human = None
    if not pairs:
        raise BadRow("conversations have no human/gpt pair")
    return pairs


def _llava_question(text: str) -> tuple[str, list[str]]:
    text = text.replace("<image>", "").replace("<video>", "")
    text = _LETTER_INSTRUCTION.sub("", text)
    question, options, _ = split_question_options(text.strip())
    return question, options


def _llava_row(row: dict, number: int) -> list[Row]:
    def convert(item: tuple[int, tuple[str, str]]) -> Sample:
        turn, (human, reply) = item
        question, options = _llava_question(human)
        answer_type = "multiple_choice" if options else None
        return _make("llava_video", f"{row['id']}#{turn}", row.get("video"), question, options,
                     reply.strip(), answer_type, data_source=row.get("data_source", ""))

    return _each(number, list(enumerate(_llava_pairs(row.get("conversations")))), convert)


def load_llava_video(path: Path) -> Iterator[Row]:
    rows = _array(path, _json(path))
    return _guarded((n, lambda r=r, n=n: _llava_row(r, n)) for n, r in enumerate(rows, 1))


# ---------------------------------------------------------------------------------------------
# NExT-QA

def _nextqa_map(path: Path) -> dict[str, str]:
    # NExT-QA publishes it as map_vid_vidorID.json; a lower-cased copy is accepted too.
    for name in ("map_vid_vidorID.json", "map_vid_vidorid.json"):
        candidate = path.parent / name
        if candidate.is_file():
            data = _json(candidate)
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {}


def _nextqa_row(row: dict, folders: dict[str, str]) -> list[Sample]:
    options = check_options([row.get(f"a{i}", "") for i in range(5)])
    try:
        index = int(str(row.get("answer", "")).strip())
    except ValueError:
        raise BadRow(f"answer {row.get('answer')!r} is not an option index 0-4") from None
    if not 0 <= index < len(options):
        raise BadRow(f"answer index {index} is outside a0-a4")
    video = str(row.get("video", "")).strip()
    path = f"{folders.get(video, video)}.mp4" if video else ""
    return [_make("nextqa", f"{video}_{row.get('qid', '')}", path, row.get("question"), options,
                  "ABCDE"[index], "multiple_choice", question_type=row.get("type", ""))]


def load_nextqa(path: Path) -> Iterator[Row]:
    text = read_text(path, "source file", max_bytes=MAX_DATA_FILE_BYTES)
    reader = csv.DictReader(io.StringIO(text))
    try:
        missing = {"video", "question", "answer", "a0", "a1", "a2", "a3", "a4"} - set(reader.fieldnames or [])
    except csv.Error as error:
        raise Vr2Error(f"{path}: not a readable CSV ({error})") from None
    if missing:
        raise Vr2Error(f"{path}: not a NExT-QA CSV (missing columns: {', '.join(sorted(missing))})")
    folders = _nextqa_map(path)
    # Row numbers count the header as row 1, as a spreadsheet shows them.
    return _guarded((n, lambda r=r: _nextqa_row(r, folders)) for n, r in enumerate(_csv_rows(path, reader), 2))


def _csv_rows(path: Path, reader: csv.DictReader) -> Iterator[dict]:
    """The CSV's rows; a field past the csv module's limit (131,072 characters) or a broken quote
    is one line naming the file and row, not a traceback."""
    try:
        yield from reader
    except csv.Error as error:
        raise Vr2Error(f"{path}: row {reader.line_num}: unreadable CSV ({error})") from None


# ---------------------------------------------------------------------------------------------
# ActivityNet-QA

def _activitynet_pair(path: Path) -> tuple[Path, Path]:
    stem = path.name
    if stem.endswith("_q.json"):
        return path, path.with_name(stem[:-7] + "_a.json")
    if stem.endswith("_a.json"):
        return path.with_name(stem[:-7] + "_q.json"), path
    raise Vr2Error(f"{path}: an ActivityNet-QA file is named <split>_q.json or <split>_a.json")


def _activitynet_row(question: dict, answers: dict[str, dict]) -> list[Sample]:
    qid = question.get("question_id")
    answer = answers.get(str(qid))
    if answer is None:
        raise BadRow(f"question {qid} has no answer in the answer file")
    text = str(answer.get("answer", "")).strip()
    kind = "numeric" if answer.get("type") == 7 and is_pure_number(text) else "free_form"
    q = str(question.get("question", "")).strip()
    if q and not q.endswith("?"):
        q += "?"  # ActivityNet-QA stores questions without their question mark
    return [_make("activitynet_qa", qid, f"v_{question.get('video_name', '')}.mp4", q, [], text, kind,
                  question_type=answer.get("type"))]


def load_activitynet_qa(path: Path) -> Iterator[Row]:
    q_path, a_path = _activitynet_pair(path)
    questions = _array(q_path, _json(q_path))
    answers = {str(a.get("question_id")): a for a in _array(a_path, _json(a_path)) if isinstance(a, dict)}
    return _guarded((n, lambda r=r: _activitynet_row(r, answers)) for n, r in enumerate(questions, 1))


# ---------------------------------------------------------------------------------------------
# Perception Test

def _perception_row(video_id: str, entry: dict, number: int) -> list[Row]:
    def convert(q: dict) -> Sample:
        options = check_options(q.get("options"))
        index = q.get("answer_id")
        if not isinstance(index, int) or not 0 <= index < len(options):
            raise BadRow(f"question {q.get('id')}: answer_id {index!r} is not an option index")
        return _make("perception_test", f"{video_id}#{q.get('id')}", f"{video_id}.mp4", q.get("question"),
                     options, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index], "multiple_choice", area=q.get("area", ""))

    return _each(number, list(entry.get("mc_question") or []), convert)


def load_perception_test(path: Path) -> Iterator[Row]:
    data = _json(path)
    if not isinstance(data, dict):
        raise Vr2Error(f"{path}: expected Perception Test's JSON object keyed by video id")
    entries = list(data.items())
    return _guarded((n, lambda k=k, v=v, n=n: _perception_row(str(v.get("metadata", {}).get("video_id", k)), v, n))
                    for n, (k, v) in enumerate(entries, 1))


# ---------------------------------------------------------------------------------------------
# CLEVRER

def clevrer_video(scene: int, filename: str) -> list[str]:
    """Where CLEVRER keeps a scene's video: flat, or in its thousand-scene folder."""
    low = scene // 1000 * 1000
    return [filename, f"video_{low:05d}-{low + 1000:05d}/{filename}"]


# One choice of a several-correct question, asked on its own (options: yes, no).
PER_CHOICE = "{question} Is \"{choice}\" a correct answer?"


def _clevrer_question(scene: int, video: str, q: dict, multi: str) -> list[Sample]:
    qid = f"{scene}#{q.get('question_id')}"
    kind = q.get("question_type", "")
    if "choices" in q:
        choices = q["choices"]
        options = check_options([c.get("choice", "") for c in choices])
        right = [i for i, c in enumerate(choices) if str(c.get("answer", "")).lower() == "correct"]
        if len(right) == 1:
            return [_make("clevrer", qid, video, q.get("question"), options, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[right[0]],
                          "multiple_choice", question_type=kind)]
        if multi == "skip":
            raise BadRow(f"question {qid}: {len(right)} correct choices (skipped: curate.clevrer_multi = \"skip\")")
        # CLEVRER's explanatory and counterfactual questions often have several right choices: each
        # choice becomes a yes/no question of its own, so none of them is lost or made single.
        question = str(q.get("question") or "").strip()
        return [_make("clevrer", f"{qid}#{c.get('choice_id', i)}", video, PER_CHOICE.format(question=question,
                      choice=option) if question else "", ["yes", "no"], "A" if i in right else "B",
                      "multiple_choice", question_type=kind, choice_of=qid)
                for i, (c, option) in enumerate(zip(choices, options))]
    answer = str(q.get("answer", "")).strip()
    answer_type = "numeric" if is_pure_number(answer) else infer_answer_type(answer, [])
    return [_make("clevrer", qid, video, q.get("question"), [], answer, answer_type, question_type=kind)]


def _clevrer_row(row: dict, number: int, multi: str) -> list[Row]:
    scene = int(row["scene_index"])
    filename = str(row.get("video_filename") or f"video_{scene:05d}.mp4")
    candidates = clevrer_video(scene, filename)

    def convert(q: dict) -> list[Sample]:
        samples = _clevrer_question(scene, candidates[0], q, multi)
        for sample in samples:
            sample.extra["video_candidates"] = candidates
        return samples

    return _each(number, list(row.get("questions") or []), convert)


def load_clevrer(path: Path, multi: str = "per_choice") -> Iterator[Row]:
    rows = _array(path, _json(path))
    return _guarded((n, lambda r=r, n=n: _clevrer_row(r, n, multi)) for n, r in enumerate(rows, 1))


# ---------------------------------------------------------------------------------------------
# vr2's own rows

def load_jsonl(path: Path) -> Iterator[Row]:
    # Paths stay relative here: the curate pipeline resolves and probes videos itself. Rows are
    # converted as they are read, so ingest memory does not grow with the file.
    for _, item in iter_samples(read_rows(path), RowContext(Path("/"), check_videos=False)):
        if isinstance(item, Sample):
            source_id = item.id
            item.video = item.video.lstrip("/")
            item.id = f"jsonl/{source_id}"
            item.extra = {**item.extra, "source": "jsonl", "source_id": source_id}
        yield item


LOADERS: dict[str, Callable[[Path], Iterator[Row]]] = {
    "llava_video": load_llava_video,
    "nextqa": load_nextqa,
    "activitynet_qa": load_activitynet_qa,
    "perception_test": load_perception_test,
    "clevrer": load_clevrer,
    "jsonl": load_jsonl,
}


def load_source(spec: SourceSpec, settings: Any = None) -> Iterator[Row]:
    """The samples and skipped rows of one source file (`settings`: the recipe's [curate]
    section, for the keys that change how a source is read)."""
    if not spec.file.is_file():
        raise Vr2Error(f"{spec.file}: {spec.kind} source file not found")
    if spec.kind == "clevrer":
        return load_clevrer(spec.file, getattr(settings, "clevrer_multi", "per_choice"))
    return LOADERS[spec.kind](spec.file)
