"""An HTTP server on 127.0.0.1 for the download tests (no internet is needed or used)."""

import contextlib
import http.server
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}

    def do_GET(self):
        name = self.path.lstrip("/")
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if name.startswith("broken"):
            self.wfile.write(data[: len(data) // 2])  # then hang up mid-file
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(files):
    """Serve ``{name: bytes}``; yields the base address. Names starting "broken" break midway."""
    handler = type("Handler", (_Handler,), {"files": dict(files)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
