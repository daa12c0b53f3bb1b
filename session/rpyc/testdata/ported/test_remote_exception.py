"""Port of RPyC's tests/test_remote_exception.py to a hopwire Go server.

remote_assert raises AssertionError in the Go service. The original's
server shares the client's process, so its _remote_version is the
client's own rpyc.__version__, which set_version rewrites for both; a Go
server sends the protocol line it speaks ("6.0 (hopwire)"), which no
client can rewrite, so the check is that it names the client's major
version (no mismatch warning), and the set_version half is left out.
"""
import unittest

import rpyc

from hopwire_port import connect


def remote_exception(call):
    try:
        call()
    except Exception as exc:
        return exc._remote_version, exc._remote_tb
    return None, ""


class TestRemoteException(unittest.TestCase):
    def setUp(self):
        self.conn = connect()

    def tearDown(self):
        self.conn.close()

    def test_remote_exception(self):
        version, tb = remote_exception(lambda: self.conn.root.remote_assert(False))
        major = rpyc.version.__version__.split(".")[0]
        self.assertEqual(version, major + (".0 (hopwire)" if major == "6" else ".3 (hopwire)"))
        self.assertNotIn("WARNING: Remote is on RPyC", tb)
        self.assertIn("AssertionError", tb)


class TestExclusionsRemoteException(unittest.TestCase):
    def setUp(self):
        # the Go server with Options.DenyVersion and DenyTraceback
        self.conn = connect("HOPWIRE_PORT_DENIED")

    def tearDown(self):
        self.conn.close()

    def test_remote_exception(self):
        version, tb = remote_exception(lambda: self.conn.root.remote_assert(False))
        self.assertEqual("<traceback denied>", tb)
        self.assertEqual("<version denied>", version)


if __name__ == "__main__":
    unittest.main()
