"""A minimal NATS client (standard library only) that puts and gets one
object in a JetStream object store the way baton's cluster does (chunks of
512 KiB, sha256 computed on put and verified on get): the benchmark's
measure of what the server and the connection allow, apart from baton.

    nats_obj.py URL SIZE_BYTES [RUNS]   prints JSON: put and get seconds per run
"""
import base64
import hashlib
import json
import os
import socket
import sys
import time
from urllib.parse import urlparse

CHUNK = 512 * 1024
BUCKET = "bench_blobs"
STREAM = f"OBJ_{BUCKET}"


class Nats:
    def __init__(self, url, timeout=30):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 4222), timeout=timeout)
        self.buf = b""
        self.sid = 0
        self.inbox = f"_INBOX.{os.urandom(8).hex()}"
        self.read_line()  # INFO
        self.send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}'
                  b"\r\nPING\r\n")
        while self.read_line() != b"PONG":
            pass
        self.send(f"SUB {self.inbox}.* 1\r\n".encode())

    def send(self, data):
        self.sock.sendall(data)

    def fill(self, n):
        while len(self.buf) < n:
            more = self.sock.recv(1 << 20)
            if not more:
                raise ConnectionError("the NATS server closed the connection")
            self.buf += more

    def read_line(self):
        while b"\r\n" not in self.buf:
            self.fill(len(self.buf) + 1)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def next_msg(self):
        """(subject, headers bytes, payload) of the next message."""
        while True:
            line = self.read_line()
            if line == b"PING":
                self.send(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise ConnectionError(line.decode())
            parts = line.split()
            if not parts or parts[0] not in (b"MSG", b"HMSG"):
                continue
            total = int(parts[-1])
            hlen = int(parts[-2]) if parts[0] == b"HMSG" else 0
            self.fill(total + 2)
            body, self.buf = self.buf[:total], self.buf[total + 2:]
            return parts[1].decode(), body[:hlen], body[hlen:]

    def publish(self, subject, payload, reply="", headers=None):
        if headers:
            h = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            self.send(f"HPUB {subject} {reply} {len(h)} {len(h) + len(payload)}\r\n".encode() + h + payload + b"\r\n")
        else:
            self.send(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def request(self, subject, payload=b"", headers=None):
        self.sid += 1
        reply = f"{self.inbox}.{self.sid}"
        self.publish(subject, payload, reply, headers)
        while True:
            subj, hdr, body = self.next_msg()
            if subj == reply:
                if hdr.startswith(b"NATS/1.0 503"):
                    raise ConnectionError(f"no responders for {subject} (is JetStream on?)")
                return json.loads(body) if body else {}


def api(nc, subject, body):
    r = nc.request(subject, json.dumps(body).encode())
    if "error" in r:
        raise RuntimeError(f"{subject}: {r['error']}")
    return r


def set_up(nc):
    api(nc, f"$JS.API.STREAM.CREATE.{STREAM}", {
        "name": STREAM, "subjects": [f"$O.{BUCKET}.C.>", f"$O.{BUCKET}.M.>"], "storage": "file",
        "num_replicas": 1, "discard": "new", "allow_rollup_hdrs": True, "allow_direct": True})


def put(nc, name, data):
    """Chunks published (acks collected after), then the metadata."""
    nuid = os.urandom(11).hex()
    digest = hashlib.sha256(data).digest()
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    base = nc.sid
    for i, c in enumerate(chunks):
        nc.publish(f"$O.{BUCKET}.C.{nuid}", c, f"{nc.inbox}.{base + 1 + i}")
    nc.sid += len(chunks)
    acks = 0
    while acks < len(chunks):
        _, _, body = nc.next_msg()
        if b"error" in body:
            raise RuntimeError(f"chunk refused: {body[:200]!r}")
        acks += 1
    meta = {"name": name, "bucket": BUCKET, "nuid": nuid, "size": len(data), "chunks": len(chunks),
            "digest": "SHA-256=" + base64.urlsafe_b64encode(digest).decode(), "options": {"max_chunk_size": CHUNK}}
    subject = f"$O.{BUCKET}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"
    r = nc.request(subject, json.dumps(meta).encode(), headers={"Nats-Rollup": "sub"})
    if "error" in r:
        raise RuntimeError(f"metadata refused: {r['error']}")


def get(nc, name):
    """The metadata, then every chunk through a pull consumer; verified."""
    subject = f"$O.{BUCKET}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"
    msg = api(nc, f"$JS.API.STREAM.MSG.GET.{STREAM}", {"last_by_subj": subject})["message"]
    meta = json.loads(base64.b64decode(msg["data"]))
    consumer = api(nc, f"$JS.API.CONSUMER.CREATE.{STREAM}", {"stream_name": STREAM, "config": {
        "deliver_policy": "all", "ack_policy": "none", "filter_subject": f"$O.{BUCKET}.C.{meta['nuid']}",
        "inactive_threshold": 10_000_000_000}})["name"]
    h, parts = hashlib.sha256(), []
    while len(parts) < meta["chunks"]:
        nc.sid += 1
        reply = f"{nc.inbox}.{nc.sid}"
        want = min(32, meta["chunks"] - len(parts))
        nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{consumer}",
                   json.dumps({"batch": want, "expires": 5_000_000_000}).encode(), reply)
        got = 0
        while got < want:
            subj, hdr, body = nc.next_msg()
            if hdr.startswith(b"NATS/1.0 4"):
                raise RuntimeError(f"fetch of chunks: {hdr.splitlines()[0].decode()}")
            if not subj.startswith(f"$O.{BUCKET}.C."):
                continue
            h.update(body)
            parts.append(body)
            got += 1
    data = b"".join(parts)
    want = base64.urlsafe_b64decode(meta["digest"].removeprefix("SHA-256="))
    if len(data) != meta["size"] or h.digest() != want:
        raise RuntimeError(f"object {name}: wrong size or digest")
    return data


def main():
    url, size, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 3
    nc = Nats(url)
    set_up(nc)
    out = []
    for i in range(runs):
        data = os.urandom(size)
        t0 = time.perf_counter()
        put(nc, f"run-{i}", data)
        t1 = time.perf_counter()
        back = get(nc, f"run-{i}")
        t2 = time.perf_counter()
        assert back == data
        out.append({"put_s": t1 - t0, "get_s": t2 - t1})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
