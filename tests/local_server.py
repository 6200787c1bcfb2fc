"""An HTTP server on 127.0.0.1 for the download tests (no internet is needed or used)."""

import contextlib
import http.server
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}

    def do_GET(self):
        name = self.path.lstrip("/")
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        if name.startswith("garbage"):        # not HTTP at all
            self.wfile.write(b"garbage\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if name.startswith("broken"):
            self.wfile.write(data[: len(data) // 2])  # then hang up mid-file
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if name.startswith("trickle"):        # a byte at a time, slower than any download may be
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):   # the client gave up: as it should
                pass
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(files):
    """Serve ``{name: bytes}``; yields the base address.

    Names starting "broken" break midway, "trickle" send a byte every 0.3 s,
    "garbage" answer with something that is not HTTP.
    """
    handler = type("Handler", (_Handler,), {"files": dict(files)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
