"""Data from the Hugging Face Hub with one command: a dataset repository fetched into a folder and
its archives unpacked where vr2's recipes look for them.

`fetch` downloads one revision of a dataset repository through `huggingface_hub` (its progress
bars on stderr; a file cut off by a dropped connection is resumed from where it stopped on the
next run; HF_TOKEN and HF_ENDPOINT are honoured, the latter read at call time). A finished
download leaves `.vr2-download.json` (repository, revision, commit) in the folder, so a later
run asks the Hub nothing for it. `unpack` extracts zip and tar archives with the standard
library, refusing members that would land outside the target folder (absolute paths, "..",
links, devices), and marks each finished archive, so an interrupted unpack is redone and a
finished one is not. Every failure is one line (`Vr2Error`): no network, an unknown repository
or revision, a full disk.

`fetch_training_set` lays out the release's training data (`MBZUAI/Video-R2-Dataset`) as the
paper recipes expect it: `video_r2_sft.json`, `video_r2_grpo.json`, `videos/` (every video
tar) and `subtitles/` (the subtitles tar), under one folder (`data/` in the recipes).
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from vr2.errors import MissingExtra, Vr2Error, first_line
from vr2.files import dumps_json, loads_json, make_folder, read_text, write_atomic

DONE = ".vr2-download.json"
UNPACKED = ".vr2-unpacked"
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")
TRAINING_REPO = "MBZUAI/Video-R2-Dataset"
# Where the paper recipes read the training data, inside the folder given (`data/`).
TRAINING_FILES = {"sft": "video_r2_sft.json", "grpo": "video_r2_grpo.json"}


def fetched(folder: Path, repo_id: str, revision: str) -> bool:
    """True when `folder` holds a finished download of this repository revision."""
    marker = folder / DONE
    if not marker.is_file() or marker.is_symlink():
        return False
    try:
        record = loads_json(read_text(marker, "download record"), str(marker))
    except Vr2Error:
        return False
    return isinstance(record, dict) and record.get("repo") == repo_id and record.get("revision") == revision


def fetch(repo_id: str, folder: str | Path, *, revision: str = "main") -> Path:
    """Download `repo_id` (a dataset) at `revision` into `folder`, resuming what an earlier run
    left half-done; nothing is asked when the folder already holds this revision."""
    folder = Path(folder)
    if fetched(folder, repo_id, revision):
        return folder
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError:
        raise MissingExtra("huggingface_hub", "pip install huggingface_hub") from None
    endpoint = os.environ.get("HF_ENDPOINT") or None
    where = endpoint or "https://huggingface.co"
    make_folder(folder, "download folder")
    try:
        with _progress_bars_on():
            snapshot_download(repo_id, repo_type="dataset", revision=revision, local_dir=folder, endpoint=endpoint)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
        raise Vr2Error(f"{repo_id}: cannot reach {where} ({first_line(error)}); check the network, "
                       f"HF_ENDPOINT or HF_HUB_OFFLINE, then rerun: finished files are kept") from None
    except HfHubHTTPError as error:
        raise Vr2Error(f"{repo_id} (revision {revision}): the Hub refused the download ({first_line(error)}); "
                       "check the name, the revision and HF_TOKEN for a gated dataset") from None
    except OSError as error:  # a full disk, an unwritable folder, a dropped connection mid-file
        raise Vr2Error(f"{repo_id}: download into {folder} stopped ({error.strerror or first_line(error)}); "
                       "rerun to resume: finished and partial files are kept") from None
    except Exception as error:  # httpx errors that huggingface_hub lets through
        if type(error).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore", "requests", "urllib3"):
            raise
        raise Vr2Error(f"{repo_id}: cannot download from {where} ({first_line(error)}); check the network, "
                       "then rerun: finished and partial files are kept") from None
    write_atomic(folder / DONE, dumps_json({"repo": repo_id, "revision": revision}) + "\n", "download record")
    return folder


@contextlib.contextmanager
def _progress_bars_on():
    """huggingface_hub's bars are process-wide and loading a model turns them off (transformers'
    `disable_progress_bar`); a download shows them all the same, and leaves the setting as found."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_off = are_progress_bars_disabled()
    enable_progress_bars()
    try:
        yield
    finally:
        if was_off:
            disable_progress_bars()


def archives(folder: Path) -> list[Path]:
    """The zip and tar archives under `folder` (vr2's and the Hub client's own folders skipped)."""
    return [path for path in _visible(folder, "*")
            if path.is_file() and not path.is_symlink() and path.name.lower().endswith(ARCHIVES)]


def _visible(folder: Path, pattern: str) -> list[Path]:
    """The paths under `folder` matching `pattern`, sorted, leaving out every hidden folder and
    file (vr2's marks, the Hub client's `.cache`)."""
    return [path for path in sorted(folder.rglob(pattern))
            if not any(part.startswith(".") for part in path.relative_to(folder).parts)]


def unpack(archive: Path, into: Path, marks: Path) -> bool:
    """Extract `archive` into `into` unless `marks` records it as done; True when extracted.
    Members that would leave `into` are refused (the whole archive is then an error)."""
    mark = marks / f"{archive.name}.done"
    if mark.is_file():
        return False
    make_folder(into, "download folder")
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, into)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(into, filter="data")  # refuses absolute paths, "..", links out, devices
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise Vr2Error(f"{archive}: cannot unpack ({first_line(error)}); delete it and rerun to fetch it again") \
            from None
    except OSError as error:
        raise Vr2Error(f"{archive}: unpacking into {into} stopped ({error.strerror or error}); rerun to redo it") \
            from None
    make_folder(marks, "download folder")
    write_atomic(mark, archive.name + "\n", "unpack record")
    return True


def _unzip(archive: Path, into: Path) -> None:
    root = into.resolve()
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            target = (into / member.filename).resolve()
            if member.filename.startswith(("/", "\\")) or not target.is_relative_to(root):
                raise zipfile.BadZipFile(f"member {member.filename!r} would land outside {into}")
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise zipfile.BadZipFile(f"member {member.filename!r} is a symbolic link")
        zipped.extractall(into)


def unpack_here(folder: Path) -> list[Path]:
    """Every archive under `folder` unpacked beside itself (a benchmark's videos land where its
    loader looks for the unzipped files); returns those extracted now."""
    done = []
    for archive in archives(folder):
        if unpack(archive, archive.parent, folder / UNPACKED):
            done.append(archive)
    return done


# --------------------------------------------------------------------------- the release's training set


def fetch_training_set(folder: str | Path, *, revision: str = "main", repo_id: str = TRAINING_REPO) -> dict[str, Path]:
    """The training data where the paper recipes read it: `folder`/video_r2_sft.json,
    video_r2_grpo.json, videos/ and subtitles/. The repository itself is kept under
    `folder`/.hub/<name> (its archives are what a rerun resumes)."""
    folder = Path(folder)
    hub = fetch(repo_id, folder / ".hub" / repo_id.split("/")[-1], revision=revision)
    out = {"videos": folder / "videos", "subtitles": folder / "subtitles"}
    for kind, name in TRAINING_FILES.items():
        source = _one_json(hub, kind)
        out[kind] = _place(source, folder / name)
    for archive in archives(hub):
        target = out["subtitles"] if archive.name.lower().startswith("subtitle") else out["videos"]
        unpack(archive, target, hub / UNPACKED)
    return out


def _one_json(hub: Path, kind: str) -> Path:
    found = [p for p in _visible(hub, "*.json") if kind in p.name.lower()]
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise Vr2Error(f"{hub}: expected one {kind.upper()} JSON file in the dataset, found {names}")
    return found[0]


def _place(source: Path, target: Path) -> Path:
    """`target` holding `source`'s data: a hard link where the file system allows, else a copy;
    an existing regular file with other content is left alone (one line)."""
    if target.is_symlink():
        raise Vr2Error(f"{target}: is a symbolic link; vr2 does not write through one")
    if target.exists():
        if filecmp.cmp(target, source, shallow=False):  # sizes first, then the bytes
            return target
        raise Vr2Error(f"{target}: exists with other content; move it away to place the downloaded file there")
    try:
        os.link(source, target)
    except OSError:
        try:
            shutil.copyfile(source, target)
        except OSError as error:
            raise Vr2Error(f"{target}: cannot write ({error.strerror or error})") from None
    return target

