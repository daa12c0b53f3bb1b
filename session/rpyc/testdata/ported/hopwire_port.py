"""Shared by the ports of RPyC's own test modules in this directory: each
test connects to the hopwire Go server that ported_test.go starts for it,
instead of a Python server in the same process.

HOPWIRE_PORT is the port of the Go service; HOPWIRE_PORT_DENIED, where a
module needs one, that of the same service with RPyC's
include_local_version and include_local_traceback off.
"""
import os

import rpyc


def connect(env="HOPWIRE_PORT", service=rpyc.VoidService, config=None):
    return rpyc.connect("127.0.0.1", int(os.environ[env]), service=service,
                        config=dict(config or {}))


def skip_reason(why):
    return "hopwire: " + why
