"""Port of RPyC's tests/test_attributes.py to a hopwire Go server.

The original reads a Python property whose getter counts its calls. A Go
attribute is a field: reading it runs no code, so there is nothing to
port; the test is recorded as skipped with that reason.
"""
import unittest

from hopwire_port import skip_reason


class TestAttributes(unittest.TestCase):
    @unittest.skip(skip_reason("Go has no properties: reading a field runs no code"))
    def test_properties(self):
        pass


if __name__ == "__main__":
    unittest.main()
