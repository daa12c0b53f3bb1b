"""Port of RPyC's tests/test_context_managers.py to a hopwire Go server.

The original's service is a Python generator context manager whose
__enter__ yields 17 + y and whose flags the test reads in-process. A Go
context manager is an io.Closer: __enter__ returns the object itself (so
x.value is 20, not x), Close is __exit__, and the flags are read from the
service (root.flags()). Close learns nothing of the with block's
exception, so on_context_exc cannot be checked: that assertion is left
out; the exception still propagates.
"""
import unittest

from hopwire_port import connect


class TestContextManagers(unittest.TestCase):
    def setUp(self):
        self.conn = connect()

    def tearDown(self):
        self.conn.close()

    def test_context(self):
        root = self.conn.root
        with root.context(3) as x:
            self.assertTrue(root.flags()["context_enter"])
            self.assertFalse(root.flags()["context_exit"])
            self.assertEqual(x.value, 20)
        self.assertTrue(root.flags()["context_exit"])

    def test_context_exception(self):
        class MyException(Exception):
            pass

        root = self.conn.root

        def use_context():
            with root.context(3):
                self.assertTrue(root.flags()["context_enter"])
                self.assertFalse(root.flags()["context_exit"])
                raise MyException()

        self.assertRaises(MyException, use_context)
        self.assertTrue(root.flags()["context_exit"])


if __name__ == "__main__":
    unittest.main()
