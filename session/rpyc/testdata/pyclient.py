"""Python RPyC client driving a Go service served by session/rpyc.

usage: pyclient.py PORT check   -- run the assertions, print OK
       pyclient.py PORT release -- drop proxies of Go objects and check
                                   that the Go side's table shrinks back
       pyclient.py PORT setattr refused|allowed
                                -- set and delete attributes of the Go
                                   service: AttributeError and no change,
                                   or done; print OK
       pyclient.py PORT bench N -- N calls of root.echo, print calls/s and
                                   the client's own CPU seconds per call
       pyclient.py PORT loop    -- print "ready", then for each line
                                   "KIND N" on stdin run N operations of
                                   KIND and print the seconds they took
                                   (see loop below), until stdin closes
"""
import gc
import os
import sys
import time

import rpyc


class ClientService(rpyc.Service):
    def exposed_whoami(self):
        return "python-client"


def check(conn):
    root = conn.root
    # values by brine
    for v in [None, True, 0, -49, 160, 2**70, -(2**70), 1.5, 2j, "", "héllo",
              b"", b"\x00\xff" * 300, (), (1, ("x", None)), frozenset([1]),
              slice(1, None, 2), NotImplemented, Ellipsis]:
        got = root.Echo(v)
        assert got == v and type(got) is type(v), (v, got)
    assert root.Add(2, 3) == 5
    assert root.add(40, 2) == 42  # snake_case alias
    assert root.Divmod(17, 5) == (3, 2)
    assert root.Upper("abc") == "ABC"
    assert root.Words() == ["a", "b", "c"]
    assert dict(root.Table()) == {"one": 1, "two": 2}
    assert root.Name == "go-svc"
    # lists and dicts go by reference; Go fetches them into slices and maps
    assert root.Sum([1, 2, 3]) == 6 and root.Sum((4, 5)) == 9 and root.Sum(set([7])) == 7
    assert root.Keys({"b": 1, "a": 2}) == ["a=2", "b=1"]
    big = bytes(range(256)) * 65536  # 16 MiB
    assert root.Length(big) == len(big)
    assert len(root.Blob(1 << 20)) == 1 << 20

    # exceptions
    try:
        root.Open("/nonexistent/hopwire")
    except FileNotFoundError as e:
        assert e.errno == 2, e.errno
    else:
        raise AssertionError("no FileNotFoundError")
    try:
        root.Divmod(1, 0)
    except ZeroDivisionError as e:
        assert "by zero" in str(e), str(e)
    else:
        raise AssertionError("no ZeroDivisionError")
    try:
        root.Fail("boom")
    except RuntimeError as e:
        assert "boom" in str(e), str(e)
    else:
        raise AssertionError("no RuntimeError")
    try:
        root.Panic()
    except RuntimeError as e:
        assert "panicked" in str(e), str(e)
    else:
        raise AssertionError("no RuntimeError for a panic")
    try:
        root.Add("x", 1)
    except TypeError:
        pass
    else:
        raise AssertionError("no TypeError")
    try:
        root.NoSuchMethod
    except AttributeError:
        pass
    else:
        raise AssertionError("no AttributeError")

    # callbacks into Python, nested
    assert root.Apply(lambda x: x * 3, 5) == 15
    assert root.Apply(lambda x: root.Add(x, 1), 5) == 6
    try:
        root.Apply(lambda x: 1 / 0, 5)
    except ZeroDivisionError:
        pass
    else:
        raise AssertionError("callback exception lost")
    # the Go service calls the client's own service
    assert root.Whoami() == "python-client"

    # objects by reference, and Go funcs handed to Python
    ctr = root.NewCounter(10)
    assert ctr.Incr() == 11 and ctr.Incr() == 12
    assert ctr.Value == 12
    assert "Counter" in repr(ctr)
    double = root.Doubler()
    assert double(21) == 42
    assert callable(double)

    # async
    res = rpyc.async_(root.Slow)(0.1, "later")
    assert not res.ready
    res.wait()
    assert res.value == "later"
    conn.ping()


def release(conn):
    # root.objects() is the size of the Go side's object table for this
    # connection (the root, the objects method itself while it is being
    # called, and whatever this client still holds).
    root = conn.root
    gc.collect()
    base = root.objects()

    held = [root.NewCounter(i) for i in range(100)]
    n = root.objects()
    assert n >= base + 100, ("100 counters held", base, n)
    del held
    gc.collect()
    n = root.objects()
    assert n == base, ("100 counters dropped", base, n)

    for i in range(300):  # by-ref results dropped at once
        assert root.NewCounter(i).Incr() == i + 1
    gc.collect()
    n = root.objects()
    assert n == base, ("300 results dropped", base, n)

    # One object received three times: one proxy whose DEL carries the
    # count 3, which releases all three sends.
    a, b, c = root.Shared(), root.Shared(), root.Shared()
    assert a is b is c
    n = root.objects()
    assert n == base + 1, ("shared held", base, n)
    del a, b, c
    gc.collect()
    n = root.objects()
    assert n == base, ("shared dropped", base, n)
    print(base)


def setattrs(conn, allowed):
    root = conn.root
    ctr = root.NewCounter(1)
    if allowed:
        ctr.Value = 100
        assert ctr.Incr() == 101
        root.Name = "renamed"
        assert root.Name == "renamed"
        del ctr.Value  # a Go field cannot go: it is reset to zero
        assert ctr.Value == 0
        return
    for obj, name, value, was in ((root, "Name", "evil", "go-svc"), (ctr, "Value", 100, 1)):
        try:
            setattr(obj, name, value)
        except AttributeError as e:
            assert "cannot set attribute" in str(e), str(e)
        else:
            raise AssertionError("set %s: no AttributeError" % name)
        try:
            delattr(obj, name)
        except AttributeError as e:
            assert "cannot delete attribute" in str(e), str(e)
        else:
            raise AssertionError("del %s: no AttributeError" % name)
        assert getattr(obj, name) == was, (name, getattr(obj, name))


def bench(conn, n):
    # the usual Python idiom: root.echo(x) is GETATTR + CALL (+ DEL)
    root = conn.root
    root.echo(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        root.echo(i)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{n / dt:.1f} {cpu / n:.9f}")


def loop(conn):
    # The operations of session/rpyc's BenchmarkRPyC*/rpyc against
    # pyserver.py's TestService, each the usual idiom (root.method(...):
    # GETATTR, CALL, then DEL of the bound method). The payloads are built
    # once; the 16 MiB one is random, so that RPyC's channel compression
    # (zlib level 1 above 3000 bytes, on by default) gains nothing.
    root = conn.root
    kib = b"\xa5" * 1024
    big = os.urandom(16 << 20)

    def inc(x):
        return x + 1

    def null(i):
        if root.echo(i) != i:
            raise AssertionError("echo")

    def echo1k(i):
        if len(root.echo(kib)) != len(kib):
            raise AssertionError("echo 1 KiB")

    def callback(i):
        if root.apply(inc, i) != i + 1:
            raise AssertionError("apply")

    def transfer16m(i):
        if root.length(big) != len(big):
            raise AssertionError("length")

    ops = {"null": null, "echo1k": echo1k, "callback": callback,
           "transfer16m": transfer16m}
    print("ready", flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        kind, n = line.split()
        op, n = ops[kind], int(n)
        t0 = time.perf_counter()
        for i in range(n):
            op(i)
        dt = time.perf_counter() - t0
        print(f"{dt:.9f}", flush=True)


def main():
    port = int(sys.argv[1])
    conn = rpyc.connect("127.0.0.1", port, service=ClientService,
                        config={"allow_public_attrs": True, "sync_request_timeout": 60})
    if sys.argv[2] == "check":
        check(conn)
        print("OK")
    elif sys.argv[2] == "release":
        release(conn)
    elif sys.argv[2] == "setattr":
        setattrs(conn, sys.argv[3] == "allowed")
        print("OK")
    elif sys.argv[2] == "loop":
        loop(conn)
    else:
        bench(conn, int(sys.argv[3]))
    conn.close()


if __name__ == "__main__":
    main()
