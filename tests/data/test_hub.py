"""Data from the Hub with one command (`vr2.data.hub`, `vr2 download`, `vr2 eval --download`), tested
offline against a local stand-in for the Hub (tests/hub_server.py): the right revision, a progress
bar, a dropped connection resumed, a rerun that fetches nothing again, one-line errors without
network, archives unpacked safely where the recipes look."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import zipfile

import pytest

from cli_helpers import run_vr2
from hub_server import Hub, make_repo
from vr2.data import hub
from vr2.errors import Vr2Error

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64  # bytes, not a real video


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture()
def stand_in(monkeypatch):
    servers = []
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")

    def start(repos):
        server = Hub(repos).start()
        servers.append(server)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        return server

    yield start
    for server in servers:
        server.stop()


def _gets(server, path):
    return [r for r in server.requests if r[0] == "GET" and r[1].endswith("/" + path)]


def test_fetch_takes_the_revision_and_asks_nothing_once_finished(stand_in, tmp_path, capfd):
    server = stand_in({"org/bench": make_repo({"main.json": b"[]"}, {"video": {"video.json": b"[1]"}})})
    folder = hub.fetch("org/bench", tmp_path / "bench", revision="video")
    assert (folder / "video.json").read_bytes() == b"[1]" and not (folder / "main.json").exists()
    assert "Fetching 1 files" in capfd.readouterr().err  # huggingface_hub's progress bar
    asked = len(server.requests)
    hub.fetch("org/bench", tmp_path / "bench", revision="video")
    assert len(server.requests) == asked  # finished: nothing asked again
    hub.fetch("org/bench", tmp_path / "bench", revision="main")  # another revision is fetched
    assert (folder / "main.json").exists()


def test_a_dropped_connection_is_resumed_from_where_it_stopped(stand_in, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 1024)  # write what arrives before the drop
    data = bytes(range(256)) * 400
    server = stand_in({"org/bench": make_repo({"big.bin": data})})
    server.cut["big.bin"] = 5000
    hub.fetch("org/bench", tmp_path / "bench")
    assert (tmp_path / "bench" / "big.bin").read_bytes() == data
    ranges = [r[2] for r in _gets(server, "big.bin")]
    assert ranges[0] is None and ranges[1] == "bytes=4096-"  # resumed, not started over


def test_a_rerun_after_a_failure_fetches_only_what_is_missing(stand_in, tmp_path):
    server = stand_in({"org/bench": make_repo({"a.json": b"[1]", "b.bin": b"x" * 1000})})
    server.broken.add("b.bin")
    with pytest.raises(Vr2Error, match="org/bench") as error:
        hub.fetch("org/bench", tmp_path / "bench")
    assert "\n" not in str(error.value) and (tmp_path / "bench" / "a.json").exists()
    server.broken.clear()
    hub.fetch("org/bench", tmp_path / "bench")
    assert len(_gets(server, "a.json")) == 1 and (tmp_path / "bench" / "b.bin").exists()


def test_no_network_is_one_line(stand_in, tmp_path, monkeypatch, capsys):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    result = run_vr2(capsys, "download", "mvbench", "-o", tmp_path / "benchmarks")
    assert result.code == 2 and "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert f"OpenGVLab/MVBench: cannot reach http://127.0.0.1:{port}" in result.err


def test_an_unknown_dataset_is_one_line(stand_in, tmp_path):
    stand_in({})
    with pytest.raises(Vr2Error, match="nobody/nothing .revision main.: the Hub refused"):
        hub.fetch("nobody/nothing", tmp_path / "x")


def test_archives_are_unpacked_beside_themselves_once(tmp_path):
    folder = tmp_path / "bench"
    (folder / "video").mkdir(parents=True)
    (folder / "video" / "clevrer.zip").write_bytes(zip_of({"clevrer/v1.mp4": VIDEO}))
    (folder / "tempcompass_videos.tar").write_bytes(tar_of({"videos/t1.mp4": VIDEO}))
    assert len(hub.unpack_here(folder)) == 2
    assert (folder / "video" / "clevrer" / "v1.mp4").read_bytes() == VIDEO
    assert (folder / "videos" / "t1.mp4").exists()
    assert hub.unpack_here(folder) == []  # done once


def test_an_absolute_tar_member_lands_inside_the_folder(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.tar").write_bytes(tar_of({"/abs/inside.mp4": VIDEO}))
    hub.unpack_here(tmp_path / "b")
    assert (tmp_path / "b" / "abs" / "inside.mp4").exists()  # the leading "/" is dropped


@pytest.mark.parametrize("archive", [tar_of({"../outside.mp4": VIDEO}), zip_of({"../outside.mp4": VIDEO})])
def test_members_that_leave_the_folder_are_refused(tmp_path, archive):
    folder = tmp_path / "bench"
    folder.mkdir()
    name = "evil.zip" if archive.startswith(b"PK") else "evil.tar"
    (folder / name).write_bytes(archive)
    with pytest.raises(Vr2Error, match="cannot unpack"):
        hub.unpack_here(folder)
    assert not (tmp_path / "outside.mp4").exists()


def test_a_tar_with_a_link_out_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("videos/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.tar").write_bytes(buffer.getvalue())
    with pytest.raises(Vr2Error, match="cannot unpack"):
        hub.unpack_here(tmp_path / "b")


TRAINING = {
    "video-r2-sft-dataset.json": json.dumps([{"video": "nextqa/1.mp4", "conversations": []}]).encode(),
    "video-r2-grpo-dataset.json": json.dumps([{"video": "nextqa/2.mp4", "conversations": []}]).encode(),
    "videos_part1.tar": tar_of({"nextqa/1.mp4": VIDEO}),
    "videos_part2.tar": tar_of({"nextqa/2.mp4": VIDEO}),
    "subtitles.tar": tar_of({"1.srt": b"1\n00:00:00,000 --> 00:00:01,000\nhi\n"}),
}


def test_vr2_download_training_lays_out_what_the_paper_recipes_read(stand_in, tmp_path, capsys):
    stand_in({"MBZUAI/Video-R2-Dataset": make_repo(TRAINING)})
    data = tmp_path / "data"
    result = run_vr2(capsys, "download", "training", "-o", data)
    assert result.code == 0, result.err
    import tomllib
    from pathlib import Path

    recipe = tomllib.loads((Path(__file__).resolve().parents[2] / "recipes" / "sft.toml").read_text())["data"]
    assert recipe["train_file"] == "data/video_r2_sft.json" and recipe["video_dir"] == "data/videos"
    assert json.loads((data / "video_r2_sft.json").read_text())[0]["video"] == "nextqa/1.mp4"
    assert (data / "video_r2_grpo.json").exists()
    assert (data / "videos" / "nextqa" / "1.mp4").read_bytes() == VIDEO and (data / "videos" / "nextqa" / "2.mp4").exists()
    assert (data / "subtitles" / "1.srt").exists()
    again = run_vr2(capsys, "download", "training", "-o", data)  # nothing to do, nothing overwritten
    assert again.code == 0, again.err


def test_a_training_file_of_other_content_is_left_alone(stand_in, tmp_path):
    stand_in({"MBZUAI/Video-R2-Dataset": make_repo(TRAINING)})
    data = tmp_path / "data"
    data.mkdir()
    mine = json.dumps([{"video": "mine12/1.mp4", "conversations": []}]).encode()  # same length, other bytes
    assert len(mine) == len(TRAINING["video-r2-sft-dataset.json"])
    (data / "video_r2_sft.json").write_bytes(mine)
    with pytest.raises(Vr2Error, match="video_r2_sft.json: exists with other content"):
        hub.fetch_training_set(data)
    assert (data / "video_r2_sft.json").read_bytes() == mine
    (data / "video_r2_sft.json").unlink()
    (data / "video_r2_sft.json").write_bytes(TRAINING["video-r2-sft-dataset.json"])  # a copy of the same data
    assert hub.fetch_training_set(data)["sft"] == data / "video_r2_sft.json"


def test_vr2_eval_download_fetches_and_evaluates(stand_in, tmp_path, capsys):
    """SciVideoBench from the stand-in Hub: its rows and a tar of videos (empty files here, so each
    sample fails at decoding and no model is loaded), unpacked where the loader looks."""
    row = {"video_id": "1", "question": "Which?", "options": {"A": "x", "B": "y"}, "answer": "B",
           "question_type": "conceptual", "category": "physics"}
    server = stand_in({"mmaaz60/scivideobench": make_repo({
        "scivideobench_1k.jsonl": (json.dumps(row) + "\n").encode(),
        "videos.tar": tar_of({"videos/jove_1.mp4": b""})})})
    data = tmp_path / "benchmarks"
    result = run_vr2(capsys, "eval", "--download", "-b", "scivideobench", "--data-dir", data, "--video-dir", "",
                     "--model", tmp_path / "absent", "-o", tmp_path / "out", "--json")
    assert result.code == 0, result.err
    assert (data / "scivideobench" / "videos" / "jove_1.mp4").exists()
    entry = json.loads(result.out)["benchmarks"]["scivideobench"]
    assert (entry["samples"], entry["errors"]) == (1, 1)  # found the video, which is no video
    asked = len(server.requests)
    assert run_vr2(capsys, "eval", "--download", "-b", "scivideobench", "--data-dir", data, "--video-dir", "",
                   "--model", tmp_path / "absent", "-o", tmp_path / "out", "--json").code == 0
    assert len(server.requests) == asked  # finished data: nothing asked again


def test_the_progress_bar_shows_after_a_model_load_turned_bars_off(stand_in, tmp_path, capfd):
    """Loading a model (transformers) switches huggingface_hub's bars off for the whole process."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    stand_in({"org/data": make_repo({"video.json": b"[1]"})})
    disable_progress_bars()
    try:
        hub.fetch("org/data", tmp_path / "d")
        assert are_progress_bars_disabled()  # left as found
    finally:
        enable_progress_bars()
    assert "Fetching 1 files" in capfd.readouterr().err
