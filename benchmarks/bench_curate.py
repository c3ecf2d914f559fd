"""`vr2 curate` teach stage: concurrent teacher calls versus one at a time.

A local OpenAI-compatible server answers every request after a fixed latency (a stand-in for a
served 72B teacher, whose replies take seconds). The teach stage of `vr2 curate` runs on N
questions over the fixture videos (frames sampled, encoded and sent for real) twice: with
`concurrency = 1` (the baseline: one call at a time) and with `concurrency = C`. Each run starts
with an empty cache and journal. Prints both wall times and the ratio.

Run: PYTHONPATH=src python benchmarks/bench_curate.py [--questions 32] [--latency 0.5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vr2.curate import pipeline as curate
from vr2.curate.teacher import make_teacher
from vr2.config import load_recipe

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / "tests" / "fixtures" / "curate" / "videos" / "own"
REPLY = ('<think>At 00:01 the background is red. At 00:02 it turns green. So the answer is A.</think>'
         '<answer>A</answer><grounding>{"00:01": "the background is red", "00:02": "it turns green"}</grounding>')


def server(latency: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(latency)
            body = json.dumps({"choices": [{"message": {"role": "assistant", "content": REPLY}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def run_teach(folder: Path, url: str, questions: int, concurrency: int) -> float:
    source = folder / "questions.jsonl"
    source.write_text("".join(json.dumps({"id": f"q{i}", "video": "kitchen.mp4", "question": f"Question {i}?",
                                          "options": ["red", "green"], "answer": "A"}) + "\n"
                              for i in range(questions)))
    recipe = load_recipe(REPO / "recipes" / "smoke" / "curate.toml", [
        f'curate.sources=["jsonl={source}"]', f'curate.video_dir="{VIDEOS}"', f'curate.output_dir="{folder / "out"}"',
        f'curate.teacher_url="{url}"', f"curate.concurrency={concurrency}", "curate.workers=2"])
    ws = curate.Workspace(Path(recipe.curate.output_dir), curate.Shard())
    curate.ingest(recipe, ws)
    teacher = make_teacher(recipe.curate, curate.cache_dir(recipe))
    start = time.perf_counter()
    taught = curate.teach(recipe, ws, teacher)
    elapsed = time.perf_counter() - start
    assert sum(e["status"] == "ok" for e in taught["entries"].values()) == questions
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the teacher takes per reply")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    httpd = server(args.latency)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
        serial = run_teach(Path(one), url, args.questions, 1)
        parallel = run_teach(Path(many), url, args.questions, args.concurrency)
    httpd.shutdown()
    print(f"{args.questions} questions, teacher latency {args.latency} s")
    print("| concurrency | wall s | questions/s |\n|---|---|---|")
    print(f"| 1 (baseline) | {serial:.2f} | {args.questions / serial:.1f} |")
    print(f"| {args.concurrency} (vr2) | {parallel:.2f} | {args.questions / parallel:.1f} |")
    print(f"speed-up: {serial / parallel:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
