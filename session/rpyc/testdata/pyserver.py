"""Test peer for session/rpyc: an RPyC server on 127.0.0.1.

usage: pyserver.py classic|service [CERTFILE KEYFILE]

With a certificate and key, the server speaks TLS (SSLAuthenticator).

Prints the port on the first line of stdout, then serves until its stdin
closes (so the Go test owns its lifetime).
"""
import sys
import threading
import time

import rpyc
from rpyc.core.service import SlaveService
from rpyc.utils.server import ThreadedServer


class TestService(rpyc.Service):
    exposed_version = "svc-1"

    def exposed_echo(self, x):
        return x

    def exposed_add(self, a, b):
        return a + b

    def exposed_apply(self, f, x):
        # a callback into the client
        return f(x)

    def exposed_apply_twice(self, f, x):
        return f(f(x))

    def exposed_fail(self, kind):
        if kind == "key":
            raise KeyError("missing")
        if kind == "file":
            open("/nonexistent/hopwire-test")
        if kind == "custom":
            class Boom(Exception):
                pass
            raise Boom("custom boom")
        raise ValueError("bad value: " + str(kind))

    def exposed_blob(self, n):
        return bytes(i % 251 for i in range(n))

    def exposed_length(self, b):
        return len(b)

    def exposed_checksum(self, b):
        import zlib
        return zlib.crc32(b)

    def exposed_sleep(self, secs, x):
        time.sleep(secs)
        return x

    def exposed_listing(self):
        return ["a", "b", 3]

    def exposed_table(self):
        return {"one": 1, "two": 2}

    def exposed_journal(self):
        import io
        return io.StringIO("journal")

    def exposed_kw(self, a, b=2, **more):
        return (a, b, tuple(sorted(more.items())))


def main():
    mode = sys.argv[1]
    cfg = {"allow_public_attrs": True, "sync_request_timeout": 60}
    svc = SlaveService if mode == "classic" else TestService
    auth = None
    if len(sys.argv) > 3:
        from rpyc.utils.authenticators import SSLAuthenticator
        auth = SSLAuthenticator(keyfile=sys.argv[3], certfile=sys.argv[2])
    srv = ThreadedServer(svc, hostname="127.0.0.1", port=0, protocol_config=cfg,
                         authenticator=auth)
    t = threading.Thread(target=srv.start, daemon=True)
    t.start()
    while not srv.active:
        time.sleep(0.01)
    print(srv.port, flush=True)
    sys.stdin.read()
    srv.close()


if __name__ == "__main__":
    main()
