#!/usr/bin/env python3
"""A loopback HTTP/1.1 proxy that adds a fixed delay to every request, for the benchmark.

    latency_proxy.py --upstream 127.0.0.1:PORT --delay-ms 50 --port-file FILE [--log FILE]

Listens on a free 127.0.0.1 port (written to --port-file once listening) and forwards every
connection to --upstream, one upstream connection per client connection, so keep-alive works
as it would against a far registry. Each request is held for --delay-ms once its head has
arrived, then forwarded (body streamed as it comes); responses are passed back byte for byte.
So every request costs one extra delay, like a round trip to a registry that far away, while
bandwidth is unchanged.

Request bodies are followed by Content-Length or chunked encoding to find where the next
request starts. A connection that does not start with an HTTP method (a client probing with a
TLS handshake first, as docker and skopeo do for a plain-HTTP registry) is passed through as
is, without delay. --log gets one line per request: "METHOD PATH". Stops on SIGTERM.
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time

BLOCK = 1 << 16


def pump(src, dst):
    """Copies bytes src -> dst until EOF, then half-closes dst."""
    try:
        while True:
            data = src.recv(BLOCK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def copy_exact(rfile, dst, n):
    while n > 0:
        data = rfile.read(min(n, BLOCK))
        if not data:
            raise EOFError("client closed mid-body")
        dst.sendall(data)
        n -= len(data)


def copy_chunked(rfile, dst):
    """Copies a chunked body, trailers included."""
    while True:
        line = rfile.readline()
        if not line:
            raise EOFError("client closed mid-chunk")
        dst.sendall(line)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        copy_exact(rfile, dst, size + 2)  # the data and its CRLF
    while True:  # trailers, up to the empty line
        line = rfile.readline()
        if not line:
            raise EOFError("client closed in trailers")
        dst.sendall(line)
        if line in (b"\r\n", b"\n"):
            return


class Proxy:
    def __init__(self, upstream, delay, log):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.delay = delay
        self.log = log
        self.lock = threading.Lock()

    def record(self, line):
        if self.log:
            with self.lock:
                self.log.write(line + "\n")
                self.log.flush()

    def requests(self, client, up):
        """Forwards requests client -> up, holding each for the delay."""
        rfile = client.makefile("rb")
        while True:
            head = []
            while True:
                line = rfile.readline(65536)
                if not line:
                    return
                head.append(line)
                if line in (b"\r\n", b"\n"):
                    break
            method, path = (head[0].split(b" ") + [b"", b""])[:2]
            length, chunked = 0, False
            for h in head[1:]:
                name, _, value = h.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            self.record(f"{method.decode(errors='replace')} {path.decode(errors='replace')}")
            time.sleep(self.delay)
            up.sendall(b"".join(head))
            if chunked:
                copy_chunked(rfile, up)
            elif length:
                copy_exact(rfile, up, length)

    def serve(self, client):
        try:
            up = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        for s in (client, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=pump, args=(up, client), daemon=True)
        back.start()
        try:
            first = client.recv(1, socket.MSG_PEEK)
            if first and first.isalpha() and first.isupper():
                self.requests(client, up)
            elif first:
                pump(client, up)  # not HTTP (a TLS probe): no delay, no parsing
        except (OSError, ValueError, EOFError):
            pass
        try:
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        back.join()
        client.close()
        up.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="host:port of the registry")
    p.add_argument("--delay-ms", type=float, default=50)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    log = open(a.log, "a") if a.log else None
    proxy = Proxy(a.upstream, a.delay_ms / 1000, log)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    os.replace(tmp, a.port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=proxy.serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
