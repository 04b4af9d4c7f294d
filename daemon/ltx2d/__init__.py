"""ltx2d: the daemon that serves a warm LTX-2 engine over gRPC and a msgpack bridge."""

__version__ = "0.1.0"
