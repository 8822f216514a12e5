"""The network pieces of ``bench_replicas.py``: a forwarder per replica in front of the simulator (it notes
every status poll and every job Akool made) and the sticky round-robin proxy in front of the replicas."""

from __future__ import annotations

import asyncio
import http.client
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POLL_PATH = "/api/open/v3/content/image/infobymodelid"
_JOB_ID = re.compile(rb'"_id"\s*:\s*"([0-9a-f]{24})"')
SESSION_HEADER = "x-bench-session"


# --- Akool, through one forwarder per replica ------------------------------------------------------------


class AkoolLog:
    """What the forwarders saw: (time, replica, job id) per poll, and every job id Akool made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.polls: list[tuple[float, int, str]] = []
        self.made: set[str] = set()
        self.created: dict[str, tuple[float, int]] = {}
        """Job id -> (when Akool answered its create, which replica asked)."""


def start_forwarder(replica: int, target_port: int, log: AkoolLog) -> ThreadingHTTPServer:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            now = time.monotonic()
            if self.path.startswith(POLL_PATH):
                job_id = self.path.partition("image_model_id=")[2][:24]
                with log.lock:
                    log.polls.append((now, replica, job_id))
            elif self.command == "POST" and "/create" in self.path:
                with log.lock:
                    for match in _JOB_ID.findall(data):
                        log.made.add(match.decode())
                        log.created.setdefault(match.decode(), (now, replica))
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the sticky proxy (a child role) ---------------------------------------------------------------------


def run_proxy(port: int, backends: list[int]) -> None:
    """Route each connection by its first request's session header: a session keeps its replica until
    that replica stops answering, then moves to the next live one (round-robin on first sight)."""
    assigned: dict[str, int] = {}
    dead: set[int] = set()
    turn = [0]

    def pick(session: str, failed: int | None = None) -> int | None:
        if failed is not None:
            dead.add(failed)
            assigned.pop(session, None)
        if session in assigned:
            return assigned[session]
        live = [b for b in range(len(backends)) if b not in dead]
        if not live:
            return None
        choice = live[turn[0] % len(live)]
        turn[0] += 1
        assigned[session] = choice
        return choice

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_w.close()
            return
        match = re.search(rb"(?im)^" + SESSION_HEADER.encode() + rb":\s*(\S+)", head)
        session = match.group(1).decode() if match else "anonymous"
        backend = pick(session)
        while backend is not None:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", backends[backend])
                break
            except OSError:
                backend = pick(session, failed=backend)
        if backend is None:
            client_w.close()
            return
        up_w.write(head)
        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, limit=2**20)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
