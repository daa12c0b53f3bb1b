"""Port of RPyC's tests/test_custom_service.py to a hopwire Go server.

customSvc (ported_test.go) has the original's exposed methods; its
OnConnect and OnDisconnect methods count connections, which the test
reads from the service (root.flags()) rather than in-process. The
original's second connection configures exposed_prefix "prefix_" on the
server; hopwire's server has one fixed rule (exported Go names, with or
without exposed_), so that connection and its assertions are left out,
as is the metaclass (Go has none: getmeta returns a plain object).
"""
import time
import unittest

from hopwire_port import connect


def before_closed(root):
    root.on_about_to_close()


class TestCustomService(unittest.TestCase):
    config = {}

    def setUp(self):
        self.conn = connect(config={"before_closed": before_closed, "close_catchall": False})
        # the original's setUp makes a fresh service; this one is shared
        self.conn.root.reset()
        self.conn.root  # this will block until the service is initialized,
        # so we can be sure on_connect_called is True by that time
        self.assertTrue(self.conn.root.flags()["connects"] >= 1)

    def tearDown(self):
        if not self.conn.closed:
            self.conn.close()
        time.sleep(0.5)  # this will wait a little, making sure
        # on_disconnect_called is already True
        probe = connect()
        self.assertTrue(probe.root.flags()["disconnects"] >= 1)
        probe.close()

    def test_before_closed(self):
        self.assertFalse(self.conn.root.flags()["about_to_close"])
        self.conn.close()
        probe = connect()
        self.assertTrue(probe.root.flags()["about_to_close"])
        probe.close()

    def test_aliases(self):
        print(f"service name: {self.conn.root.get_service_name()}")
        self.assertEqual(self.conn.root.get_service_name(), "MY")

    def test_distance(self):
        assert self.conn.root.distance((2, 7), (5, 11)) == 5

    def test_attributes(self):
        self.conn.root.distance
        self.conn.root.exposed_distance
        self.conn.root.getlist
        self.conn.root.exposed_getlist
        # this is not an exposed attribute:
        self.assertRaises(AttributeError, lambda: self.conn.root.foobar())
        # methods exposed using decorator
        self.conn.root.get_decorated
        self.conn.root.exposed_get_decorated
        smc = self.conn.root.MyClass('a', 'b')
        self.assertEqual(smc.foo(), 'ab')

    def test_safeattrs(self):
        x = self.conn.root.getlist()
        # the original could not compare remote lists; a Go list can
        self.assertEqual(x, [1, 2, 3])
        self.assertEqual([y * 2 for y in x], [2, 4, 6])

    def test_metaclasses(self):
        x = self.conn.root.getmeta()
        print(x)

    def test_instancecheck_list(self):
        remote_list = self.conn.root.getlist()
        self.assertTrue(self.conn.root.instance(remote_list, list))


if __name__ == "__main__":
    unittest.main()
