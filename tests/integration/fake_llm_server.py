"""A local server that speaks the OpenAI chat-completions API, for the interception tests.

It stands in for a remote LLM API (which the tests cannot reach): POST /v1/chat/completions
answers with a completion and a `usage` object (OpenRouter-style `usage.cost` included), or, with
"stream": true, with server-sent events whose last data event carries the usage. GET /v1/models
lists models; GET /ws with `Upgrade: websocket` answers 101 and echoes whatever follows. Every
request is appended to a JSON-lines log (method, path, headers, body) so a test can assert what
really arrived: which Authorization header, which model.

Usage: fake_llm_server.py BIND PORT LOG [CERT KEY]   (TLS when CERT and KEY are given)
"""
import base64
import hashlib
import http.server
import json
import ssl
import sys
import threading

bind, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cert, key = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
log_lock = threading.Lock()


def record(handler, body):
    entry = {"method": handler.command, "path": handler.path,
             "headers": {k: v for k, v in handler.headers.items()},
             "body": body.decode("utf-8", "replace")}
    with log_lock, open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        record(self, b"")
        if self.path.startswith("/ws") and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.echo_websocket()
        if self.path.startswith("/v1/models"):
            self.send_json(200, {"object": "list", "data": [{"id": "gpt-test", "object": "model"}]})
        else:
            self.send_json(404, {"error": "not found"})

    def echo_websocket(self):
        """101, then every byte the client sends comes back (a realtime API's socket, minus the
        framing, which a proxy that splices never looks at)."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            data = self.connection.recv(65536)
            if not data:
                break
            self.connection.sendall(data)
        self.close_connection = True

    def do_POST(self):
        body = self.read_body()
        record(self, body)
        if not self.path.startswith("/v1/chat/completions"):
            return self.send_json(404, {"error": "not found"})
        try:
            req = json.loads(body)
        except ValueError:
            return self.send_json(400, {"error": "invalid JSON"})
        model = req.get("model", "")
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "cost": 0.25}
        if not req.get("stream"):
            return self.send_json(200, {
                "id": "chatcmpl-1", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                             "finish_reason": "stop"}],
                "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(obj):
            data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        for word in ("hel", "lo"):
            event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": {"content": word}}]})
        event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
               "choices": [], "usage": usage})
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server((bind, port), Handler)
if cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
