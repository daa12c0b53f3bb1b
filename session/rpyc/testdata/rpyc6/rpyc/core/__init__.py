# flake8: noqa: F401
from rpyc.core.stream import SocketStream, TunneledSocketStream, PipeStream
from rpyc.core.channel import Channel
from rpyc.core.protocol import Connection, DEFAULT_CONFIG
from rpyc.core.netref import BaseNetref
from rpyc.core.async_ import AsyncResult, AsyncResultTimeout
from rpyc.core.service import Service, VoidService, SlaveService, MasterService, ClassicService
from rpyc.core.vinegar import GenericException
