"""A Python RPyC client using a Go service (idioms_test.go's idiomSvc)
the way a Python programmer uses a Python one: dicts, lists, keyword
arguments, context managers, service names, exceptions, callbacks.

usage: pyidioms.py PORT LINE   -- LINE is 5 or 6, the RPyC line; prints OK
"""
import sys
import time

import rpyc


class ClientService(rpyc.Service):
    def exposed_whoami(self):
        return "python-idioms"


def raises(exc, f, *args, **kwargs):
    try:
        f(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (f, exc.__name__))


def dicts(root):
    t = root.table()
    assert isinstance(t, dict), type(t)
    assert t["one"] == 1 and t["two"] == 2
    assert len(t) == 2 and "one" in t and "three" not in t and 3 not in t
    assert sorted(t) == ["one", "two"] and [k for k in t] == ["one", "two"]
    assert list(t.keys()) == ["one", "two"] and list(t.values()) == [1, 2]
    assert dict(t.items()) == {"one": 1, "two": 2}
    assert {k: v for k, v in t.items()} == {"one": 1, "two": 2}
    assert t.get("one") == 1 and t.get("three") is None and t.get("three", 3) == 3
    assert t == {"one": 1, "two": 2} and t != {"one": 1} and dict(t) == {"one": 1, "two": 2}
    assert repr(t) == "{'one': 1, 'two': 2}" and str(t) == repr(t)
    raises(KeyError, lambda: t["three"])
    # a map returned by value is the client's own copy
    t["three"] = 3
    assert t["three"] == 3 and len(t) == 3
    assert "three" not in root.table()
    raises(TypeError, t.__setitem__, "four", "not an int")
    del t["one"]
    assert t.pop("two") == 2 and t.pop("nine", 9) == 9
    t.update({"x": 9})
    assert t == {"three": 3, "x": 9}
    assert t.setdefault("y", 1) == 1 and t["y"] == 1
    assert root.total(t) == 13  # handed back to Go: a map[string]int
    t.clear()
    assert len(t) == 0 and not t
    # nested: a map of slices
    n = root.nested()
    assert isinstance(n["evens"], list) and n["evens"][1] == 2 and n["odds"] == [1, 3]
    # a pointer to the service's map: the changes are the service's
    inv = root.inventory()
    inv["apples"] = 3
    inv["pears"] += 2
    assert root.inventory()["apples"] == 3 and root.total(root.inventory()) == 6


def lists(root):
    w = root.words()
    assert isinstance(w, list), type(w)
    assert w == ["a", "b", "c"] and w != ("a", "b", "c") and list(w) == ["a", "b", "c"]
    assert len(w) == 3 and w[0] == "a" and w[-1] == "c" and w[1:] == ["b", "c"] and w[:-1] == ["a", "b"]
    assert "b" in w and "z" not in w and 1 not in w
    assert [x.upper() for x in w] == ["A", "B", "C"] and list(reversed(w)) == ["c", "b", "a"]
    assert w.index("c") == 2 and w.count("a") == 1
    assert repr(w) == "['a', 'b', 'c']"
    raises(IndexError, lambda: w[10])
    raises(ValueError, w.index, "z")
    # a slice returned by value: the client's own list
    w.append("d")
    assert w == ["a", "b", "c", "d"] and root.words() == ["a", "b", "c"]
    w[0] = "z"
    w.extend(["e"])
    w += ["f"]
    assert w.pop() == "f" and w.pop(0) == "z"
    w.insert(0, "y")
    w.remove("b")
    del w[0]
    assert w == ["c", "d", "e"], list(w)
    raises(TypeError, w.append, 1)  # a []string holds strings
    assert root.count_words(w) == 3  # handed back to Go: a []string
    assert root.count_words(["p", "q"]) == 2  # a Python list, fetched
    # a pointer to the service's slice: append grows the service's
    log = root.log()
    log.append("hello")
    log.append("world")
    assert root.log() == ["hello", "world"] and len(root.log()) == 2


def keywords(root):
    assert root.add(a=1, b=2) == 3 and root.add(1, b=2) == 3 and root.add(1, 2) == 3
    assert root.add(A=5, B=1) == 6 and root.add(b=7) == 7  # fields left out are zero
    assert root.scale(value=2.0, by=3) == 6.0
    assert root.sub(a=5, b=2) == 3 and root.sub(5, b=2) == 3 and root.sub(b=1, a=5) == 4
    e = raises(TypeError, root.sub, a=5)
    assert "missing 1 required argument(s): 'b'" in str(e), str(e)
    e = raises(TypeError, root.add, c=1)
    assert "unexpected keyword argument 'c'" in str(e), str(e)
    e = raises(TypeError, root.mul, a=1, b=2)
    assert "Go keeps no parameter names" in str(e) and "RPyCParams" in str(e), str(e)
    assert root.mul(6, 7) == 42


def numbers(root):
    assert root.half(4.0) == 2 and root.half(4) == 2 and root.half(True) == 0
    e = raises(TypeError, root.half, 2.5)
    assert "integral" in str(e), str(e)


def service(root, conn):
    assert root.get_service_name() == "IDIOMS"
    assert root.get_service_aliases() == ("IDIOMS", "GO-IDIOMS")
    names = dir(root)
    assert "on_connect" not in names and "OnConnect" not in names and "RPyCParams" not in names, names
    raises(AttributeError, lambda: root.on_connect)
    # OnConnect asked this client's service who it is, before any answer
    assert root.client() == "python-idioms"


def context_managers(root):
    with root.open("journal") as j:
        j.write("one")
        j.write("two")
        assert j.lines() == ["one", "two"]
    assert root.closed() == 1
    raises(ValueError, j.write, "three")  # closed: os.ErrClosed, as Python's closed files
    try:
        with root.open("journal") as k:
            k.write("x")
            raise ValueError("inside")
    except ValueError as e:
        assert str(e) == "inside"
    else:
        raise AssertionError("the with block's exception was swallowed")
    assert root.closed() == 2


def exceptions(root, line):
    e = raises(RuntimeError, root.fail)
    assert e._remote_version == line + ".0 (hopwire)" if line == "6" else e._remote_version == "5.3 (hopwire)", e._remote_version
    text = str(e)
    assert text.startswith("go says no"), text
    assert "========= Remote Traceback (1) =========" in text, text
    assert "in Go Fail" in text and text.rstrip().endswith("RuntimeError: go says no"), text
    assert "WARNING" not in text, text  # no version mismatch


def callbacks(root):
    assert root.call_later(lambda: 5) == 5
    # the Go handler's callback has a deadline (SyncRequestTimeout, 0.5 s
    # in the test): a slow callback is a TimeoutError in the caller
    # (this client, single-threaded, sees it when the callback is done)
    e = raises(TimeoutError, root.call_later, lambda: time.sleep(1))
    assert "no reply within 500ms" in str(e), str(e)
    # the caller's own deadline
    e = raises(TimeoutError, root.call_within, 0.2, lambda: time.sleep(0.6))
    assert "500ms" not in str(e), str(e)
    assert root.call_within(5, lambda: "in time") == "in time"


def main():
    port, line = int(sys.argv[1]), sys.argv[2]
    conn = rpyc.connect("127.0.0.1", port, service=ClientService,
                        config={"sync_request_timeout": 60})
    root = conn.root
    dicts(root)
    lists(root)
    keywords(root)
    numbers(root)
    service(root, conn)
    context_managers(root)
    exceptions(root, line)
    callbacks(root)
    conn.close()
    print("OK")


if __name__ == "__main__":
    main()
