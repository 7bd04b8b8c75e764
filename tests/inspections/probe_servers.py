"""Small local servers the probe tests run against (OPS-1): HTTP(S) with a self-signed
certificate made here, a socket that accepts and never answers, a UDP DNS responder built with
dnspython, a SIP UDP responder and an in-process paramiko SSH server with an exec handler."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

NODE_METRICS = """# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{{cpu="0",mode="idle"}} {idle0}
node_cpu_seconds_total{{cpu="0",mode="user"}} {busy0}
node_cpu_seconds_total{{cpu="1",mode="idle"}} {idle0}
node_cpu_seconds_total{{cpu="1",mode="system"}} {busy0}
node_memory_MemTotal_bytes 8.0e+09
node_memory_MemAvailable_bytes 2.0e+09
node_filesystem_size_bytes{{device="/dev/sda1",fstype="ext4",mountpoint="/"}} 1.0e+11
node_filesystem_avail_bytes{{device="/dev/sda1",fstype="ext4",mountpoint="/"}} 4.0e+10
node_filesystem_size_bytes{{device="/dev/sdb1",fstype="xfs",mountpoint="/data"}} 1.0e+12
node_filesystem_avail_bytes{{device="/dev/sdb1",fstype="xfs",mountpoint="/data"}} 1.5e+11
node_filesystem_size_bytes{{device="tmpfs",fstype="tmpfs",mountpoint="/run"}} 1.0e+08
node_filesystem_avail_bytes{{device="tmpfs",fstype="tmpfs",mountpoint="/run"}} 0
"""


def make_cert(tmp: Path, *, days_valid: int = 365, expired: bool = False) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost; `expired` makes one that ended yesterday."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    start, end = (now - timedelta(days=30), now - timedelta(days=1)) if expired else (now - timedelta(days=1),
                                                                                      now + timedelta(days=days_valid))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / f"cert-{days_valid}-{expired}.pem", tmp / f"key-{days_valid}-{expired}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    scrapes = 0

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
        raw = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):  # noqa: N802
        if self.path == "/ok":
            self._send(200, "service ok 运行正常")
        elif self.path == "/json":
            self._send(200, json.dumps({"status": "up", "data": {"items": [{"state": "green"}]}}), "application/json")
        elif self.path == "/fail":
            self._send(503, "maintenance")
        elif self.path == "/auth":
            ok = self.headers.get("Authorization") == "Basic dXNlcjpzM2NyZXQ="  # user:s3cret
            self._send(200 if ok else 401, "welcome" if ok else "no")
        elif self.path == "/metrics":
            type(self).scrapes += 1
            n = type(self).scrapes
            # per scrape each CPU adds 3 s idle and 1 s busy → 25 % CPU
            self._send(200, NODE_METRICS.format(idle0=1000 + 3 * n, busy0=500 + n))
        else:
            self._send(404, "not here")


@contextmanager
def http_server(cert: tuple[Path, Path] | None = None):
    """Yields the base URL (https:// when a certificate is given)."""
    handler = type("H", (_Handler,), {"scrapes": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server():
    """A TCP socket that accepts connections and never answers (a hung service). Yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Udp(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        answer = self.server.answer(data)
        if answer is not None:
            sock.sendto(answer, self.client_address)


@contextmanager
def udp_server(answer):
    """A UDP server answering each datagram with `answer(data) -> bytes | None`. Yields the port."""
    server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), _Udp)
    server.answer = answer
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def dns_answer(records: dict[tuple[str, str], list[str]]):
    """A DNS responder: (name, type) → values; other names get NXDOMAIN."""
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    def answer(data: bytes) -> bytes:
        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        question = q.question[0]
        key = (question.name.to_text().rstrip("."), dns.rdatatype.to_text(question.rdtype))
        if key in records:
            r.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", key[1], records[key]))
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
        return r.to_wire()

    return answer


def sip_answer(status: int = 200, reason: str = "OK"):
    """A SIP user agent answering OPTIONS with `status` (headers copied as RFC 3261 asks)."""

    def answer(data: bytes) -> bytes | None:
        lines = data.decode().split("\r\n")
        if not lines[0].startswith("OPTIONS "):
            return None
        copied = [h for h in lines[1:] if h.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
        return ("\r\n".join([f"SIP/2.0 {status} {reason}", *copied, "Server: test-uas", "Content-Length: 0"])
                + "\r\n\r\n").encode()

    return answer


SSH_OUTPUT = """0.50 0.40 0.30 1/234 5678
MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    6000000 kB
4
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/sda1        102400000 40960000  61440000      40% /
tmpfs               800000        0    800000       0% /run
/dev/sdb1       1024000000 952000000 72000000      93% /data
"""


@contextmanager
def ssh_server(*, username: str = "ops", password: str = "pw", output: str = SSH_OUTPUT, host_key=None):
    """An in-process paramiko SSH server: password auth, an exec handler that records the
    command and answers with `output`. Yields (port, commands, info): info.fingerprint is the
    host key's SHA256 fingerprint, info.auths the user names that tried to log in."""
    from types import SimpleNamespace

    import paramiko

    host_key = host_key or paramiko.RSAKey.generate(2048)
    commands: list[str] = []
    info = SimpleNamespace(auths=[], key=host_key, fingerprint=host_key.fingerprint)

    class Server(paramiko.ServerInterface):
        def check_auth_password(self, u, p):
            info.auths.append(u)
            return paramiko.AUTH_SUCCESSFUL if (u, p) == (username, password) else paramiko.AUTH_FAILED

        def get_allowed_auths(self, u):
            return "password"

        def check_channel_request(self, kind, chanid):
            return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

        def check_channel_exec_request(self, channel, command):
            commands.append(command.decode())

            def reply():
                # paramiko answers the exec request only after this method returns; data and
                # close sent before that answer make the client see "Channel closed".
                time.sleep(0.2)
                channel.sendall(output.encode())
                channel.send_exit_status(0)
                channel.close()

            threading.Thread(target=reply, daemon=True).start()
            return True

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()
    transports = []

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            t = paramiko.Transport(conn)
            t.add_server_key(host_key)
            transports.append(t)
            try:
                t.start_server(server=Server())
            except paramiko.SSHException:
                continue

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield sock.getsockname()[1], commands, info
    finally:
        stop.set()
        th.join(2)
        for t in transports:
            t.close()
        sock.close()
