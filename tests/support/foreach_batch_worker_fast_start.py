"""Spark Connect's foreachBatch Python worker, connecting back to the server before its imports.

Spark waits a fixed 10 s (hard-coded in PythonWorkerFactory) for a foreachBatch worker to
connect back; pyspark's own worker imports the Connect client (pandas, pyarrow, grpc: ~7 s
on this shared 2-core box, more under load) before connecting, and the query then fails
with "Python worker failed to connect back". This does the same steps in another order:
connect and authenticate with the standard library only (pyspark.util's protocol: the
secret length-prefixed, then an "ok" reply, then our pid), then import the worker and run
its `main`. The test Connect server runs it through `python_worker_launcher()`.
"""

from __future__ import annotations

import os
import socket
import struct


def _connect_back() -> tuple[object, socket.socket]:
    port = int(os.environ["PYTHON_WORKER_FACTORY_PORT"])
    secret = os.environ["PYTHON_WORKER_FACTORY_SECRET"].encode("utf-8")
    sock = socket.create_connection(("127.0.0.1", port),
                                    timeout=int(os.environ.get("SPARK_AUTH_SOCKET_TIMEOUT", 15)))
    sock_file = sock.makefile("rwb", int(os.environ.get("SPARK_BUFFER_SIZE", 65536)))
    sock_file.write(struct.pack("!i", len(secret)) + secret)
    sock_file.flush()
    (length,) = struct.unpack("!i", sock_file.read(4))
    if sock_file.read(length).decode("utf-8") != "ok":
        raise SystemExit("the Spark server refused this worker's secret")
    sock.settimeout(None)  # there can be a long time between micro-batches
    sock_file.write(struct.pack("!i", os.getpid()))
    sock_file.flush()
    return sock_file, sock


if __name__ == "__main__":
    sock_file, _sock = _connect_back()
    from pyspark.sql.connect.streaming.worker import foreach_batch_worker

    foreach_batch_worker.main(sock_file, sock_file)
