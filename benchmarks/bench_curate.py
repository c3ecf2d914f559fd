"""`vr2 curate` at scale: concurrent calls, a pool of teachers, and stage state that streams.

Three measurements, each against local stand-in teachers (OpenAI-compatible HTTP servers that
answer after a fixed latency; a served 72B teacher takes seconds):

- `concurrency`: the teach stage with `concurrency = 1` (baseline, one call at a time) and with
  `concurrency = C`, on N questions over a fixture video (frames sampled, encoded, sent for real).
- `pool`: the teach stage against one endpoint (baseline) and against two endpoints of different
  latency given as a list (`curate.teacher_url = [fast, slow]`): wall time and calls per endpoint.
- `scale`: simulated sources of N questions over a few distinct tiny videos (many questions per
  video, as LLaVA-Video-178K has), each stage run as its own process so its peak memory (max RSS)
  and wall time are its own: ingest at each `--ingest` size, teach through write at each
  `--full` size, and the cost of resuming teach after a kill -9 half way.

Run: PYTHONPATH=src python benchmarks/bench_curate.py concurrency [--questions 32] [--latency 0.5]
     PYTHONPATH=src python benchmarks/bench_curate.py pool [--questions 64] [--fast 0.2] [--slow 0.6] [--slots 4]
     PYTHONPATH=src python benchmarks/bench_curate.py scale [--ingest 10000 100000 500000] [--full 10000 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "tests" / "fixtures" / "curate" / "videos" / "own" / "kitchen.mp4"
RECIPE = REPO / "recipes" / "smoke" / "curate.toml"
VIDEOS_PER_SET = 20
GROUNDING = '{"00:01": "the background is red", "00:02": "it turns green"}'


def reply_for(body: dict) -> str:
    """The stand-in's reply: a good trace for a teach request (the answer is written in the
    question), a rating for a rate request."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return '{"difficulty": 3}'
    text = next(p["text"] for p in reversed(content) if p.get("type") == "text")
    answer = re.search(r"\(answer (\w)\)", text).group(1)
    return (f"<think>At 00:01 the background is red. At 00:02 it turns green. So the answer is {answer}.</think>"
            f"<answer>{answer}</answer><grounding>{GROUNDING}</grounding>")


def server(latency: float, slots: int = 0) -> ThreadingHTTPServer:
    """A stand-in teacher; with `slots`, it works on at most that many requests at once (a GPU
    server's batch) and the rest wait, as they would for a real one."""
    gate = threading.BoundedSemaphore(slots) if slots else None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if gate:
                with gate:
                    time.sleep(latency)
            else:
                time.sleep(latency)
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply_for(body)}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
            self.server.served += 1

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.served = 0
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def url_of(httpd) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def make_set(folder: Path, questions: int, videos: int = VIDEOS_PER_SET) -> tuple[Path, Path]:
    """(source JSONL, video folder): `questions` questions over `videos` copies of a 4 s video; keys
    group each video's questions together, as a source's rows do."""
    video_dir = folder / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    for v in range(videos):
        shutil.copyfile(VIDEO, video_dir / f"v{v:03d}.mp4")
    source = folder / "questions.jsonl"
    per_video = -(-questions // videos)
    with source.open("w") as handle:
        for i in range(questions):
            v = i // per_video
            answer = "AB"[i % 2]
            handle.write(json.dumps({"id": f"v{v:03d}_q{i:07d}", "video": f"v{v:03d}.mp4",
                                     "question": f"Question {i} (answer {answer})?", "options": ["red", "green"],
                                     "answer": answer, "answer_type": "multiple_choice"}) + "\n")
    return source, video_dir


def overrides(folder: Path, source: Path, video_dir: Path, urls: list[str], concurrency: int) -> list[str]:
    url = json.dumps(urls if len(urls) > 1 else urls[0])
    return [f'curate.sources=["jsonl={source}"]', f'curate.video_dir="{video_dir}"',
            f'curate.output_dir="{folder / "out"}"', f"curate.teacher_url={url}", f"curate.concurrency={concurrency}",
            "curate.workers=2", "curate.retries=2", "curate.backoff=0.05", "curate.max_samples=0",
            f'model.name_or_path="{folder / "model"}"', f'curate.tokenizer="{tokenizer(folder)}"']


def tokenizer(folder: Path) -> Path:
    """The tiny model's tokenizer (what `vr2 synthetic` would give the smoke recipe), built once in
    the benchmark's folder, so the benchmark needs nothing made beforehand. Built in a child process:
    torch in this process would count in every stage's max RSS (a forked child holds the parent's
    pages until it execs)."""
    model = folder / "tiny-model"
    if not (model / "config.json").is_file():
        code = f"from vr2.devtools.tiny import build_tiny_model; build_tiny_model({str(model)!r}, seed=0)"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    return model


def run_stage(folder: Path, sets: list[str], stage: str, kill_after: int = 0) -> dict:
    """One `vr2 curate --stage` in its own process: wall seconds and max RSS (MiB); with
    `kill_after`, SIGKILL once the teach table holds that many rows."""
    command = [sys.executable, "-m", "vr2", "curate", str(RECIPE), "--stage", stage,
               *sum((["-s", s] for s in sets), [])]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed = False
    if kill_after:
        db = state_file(folder)
        while process.poll() is None:
            time.sleep(0.2)
            if db.is_file() and teach_rows(db) >= kill_after:
                process.send_signal(signal.SIGKILL)
                killed = True
                break
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    err = process.stderr.read().decode(errors="replace")
    if not killed and status != 0:
        raise SystemExit(f"stage {stage} failed:\n{err[-2000:]}")
    return {"wall_s": round(wall, 2), "max_rss_mib": round(usage.ru_maxrss / 1024)}


def state_file(folder: Path) -> Path:
    """The state database of a plain (one-shard) run in `folder`."""
    return folder / "out" / "work" / "shard-0-of-1" / "state.sqlite"


def teach_rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM teach WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


# --------------------------------------------------------------------------- the three measurements


def teach_once(folder: Path, urls: list[str], questions: int, concurrency: int) -> float:
    source, video_dir = make_set(folder, questions, videos=4)
    sets = overrides(folder, source, video_dir, urls, concurrency)
    run_stage(folder, sets, "ingest")
    return run_stage(folder, sets, "teach")["wall_s"]


def bench_concurrency(args) -> None:
    httpd = server(args.latency)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
        serial = teach_once(Path(one), [url_of(httpd)], args.questions, 1)
        parallel = teach_once(Path(many), [url_of(httpd)], args.questions, args.concurrency)
    httpd.shutdown()
    print(f"{args.questions} questions, teacher latency {args.latency} s (wall includes ~3 s of process start)")
    print("| concurrency | wall s | questions/s |\n|---|---|---|")
    print(f"| 1 (baseline) | {serial:.2f} | {args.questions / serial:.1f} |")
    print(f"| {args.concurrency} (vr2) | {parallel:.2f} | {args.questions / parallel:.1f} |")
    print(f"speed-up: {serial / parallel:.1f}x")


def bench_pool(args) -> None:
    fast, slow = server(args.fast, args.slots), server(args.slow, args.slots)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        alone = teach_once(Path(one), [url_of(fast)], args.questions, args.concurrency)
        fast.served = 0
        pooled = teach_once(Path(two), [url_of(fast), url_of(slow)], args.questions, args.concurrency)
    print(f"{args.questions} questions, concurrency {args.concurrency}; endpoints of {args.fast} s and {args.slow} s "
          f"per reply, {args.slots} replies at a time each (wall includes ~3 s of process start)")
    print("| teacher_url | wall s | calls to fast / slow |\n|---|---|---|")
    print(f"| fast only (baseline) | {alone:.2f} | {args.questions} / 0 |")
    print(f"| [fast, slow] (vr2 pool) | {pooled:.2f} | {fast.served} / {slow.served} |")
    print(f"speed-up: {alone / pooled:.2f}x")


def bench_scale(args) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        httpd = server(0.0)
        for n in args.ingest:
            folder = Path(tmp) / f"ingest-{n}"
            source, video_dir = make_set(folder, n)
            sets = overrides(folder, source, video_dir, [url_of(httpd)], args.concurrency)
            first = run_stage(folder, sets, "ingest")
            again = run_stage(folder, sets, "ingest")  # unchanged: the sources are read, nothing probed
            size = state_file(folder).stat().st_size
            rows.append((n, "ingest", first, f"rerun {again['wall_s']} s; state {size / 2**20:.0f} MiB"))
            shutil.rmtree(folder)
            print(rows[-1], flush=True)
        for n in args.full:
            folder = Path(tmp) / f"full-{n}"
            source, video_dir = make_set(folder, n)
            sets = overrides(folder, source, video_dir, [url_of(httpd)], args.concurrency)
            for stage in ("ingest", "teach", "verify", "rank", "split", "write"):
                rows.append((n, stage, run_stage(folder, sets, stage), ""))
                print(rows[-1], flush=True)
            # Resume: forget the replies, kill teach half way, then resume and time what is left.
            shutil.rmtree(folder / "out" / "teacher-cache")
            with sqlite3.connect(state_file(folder)) as con:
                con.execute("DELETE FROM teach")
            killed = run_stage(folder, sets, "teach", kill_after=n // 2)
            left = n - teach_rows(state_file(folder))
            resumed = run_stage(folder, sets, "teach")
            rows.append((n, "teach resumed after kill -9", resumed,
                         f"{left} of {n} left (killed after {killed['wall_s']} s)"))
            print(rows[-1], flush=True)
            shutil.rmtree(folder)
        httpd.shutdown()
    print("| questions | stage | wall s | max RSS MiB | note |\n|---|---|---|---|---|")
    for n, stage, measured, note in rows:
        print(f"| {n:,} | {stage} | {measured['wall_s']} | {measured['max_rss_mib']} | {note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    one = sub.add_parser("concurrency")
    one.add_argument("--questions", type=int, default=32)
    one.add_argument("--latency", type=float, default=0.5)
    one.add_argument("--concurrency", type=int, default=8)
    two = sub.add_parser("pool")
    two.add_argument("--questions", type=int, default=64)
    two.add_argument("--fast", type=float, default=0.2)
    two.add_argument("--slow", type=float, default=0.6)
    two.add_argument("--concurrency", type=int, default=8)
    two.add_argument("--slots", type=int, default=4, help="requests each endpoint works on at once")
    three = sub.add_parser("scale")
    three.add_argument("--ingest", type=int, nargs="*", default=[10_000, 100_000, 500_000])
    three.add_argument("--full", type=int, nargs="*", default=[10_000, 50_000])
    three.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    {"concurrency": bench_concurrency, "pool": bench_pool, "scale": bench_scale}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
