"""`selfevolve serve`: an OpenAI-compatible server over a local transformers model.

POST /v1/chat/completions (messages, n, temperature, max_tokens, seed), GET /v1/models, GET /metrics
(request counts). A laptop user gets the same workflow as a GPU user with vLLM, and the tests exercise
the openai backend end to end. Generation is serialized: the model runs one batch at a time.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_server(model_path: str, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    from selfevolve.models.hf_backend import TransformersBackend

    backend = TransformersBackend(model_path)
    counts = {"chat_completions": 0, "models": 0}
    lock = threading.Lock()
    name = model_path.rstrip("/").rsplit("/", 1)[-1]

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.rstrip("/") == "/v1/models":
                with lock:
                    counts["models"] += 1
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "local"}]})
            elif self.path.rstrip("/") == "/metrics":
                with lock:
                    self._send(200, dict(counts))
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                messages = body["messages"]
                n = int(body.get("n") or 1)
                temperature = float(body.get("temperature") or 0.0)
                max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
                seed = body.get("seed")
            except (ValueError, KeyError, TypeError) as e:
                self._send(400, {"error": {"message": f"bad request: {e}"}})
                return
            with lock:
                counts["chat_completions"] += 1
            texts = backend.generate([messages] * n, temperature=temperature, max_tokens=max_tokens, seed=seed)
            self._send(200, {"id": f"chatcmpl-{counts['chat_completions']}", "object": "chat.completion",
                             "created": int(time.time()), "model": name,
                             "choices": [{"index": i, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": t}} for i, t in enumerate(texts)],
                             "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)
