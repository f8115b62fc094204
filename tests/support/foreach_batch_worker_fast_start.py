"""Spark Connect's foreachBatch Python worker, connecting back to the server before its imports.

Spark waits a fixed 10 s (hard-coded in PythonWorkerFactory) for a foreachBatch worker to
connect back; pyspark's own worker imports the Connect client (pandas, pyarrow, grpc: ~7 s
on this shared 2-core box, more under load) before connecting, and the query then fails
with "Python worker failed to connect back". This does the same steps in another order:
connect and authenticate (light imports), then import the worker and run its `main`.
The test Connect server runs it through `python_worker_launcher()` (its PYSPARK_PYTHON).
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    from pyspark.serializers import write_int
    from pyspark.util import local_connect_and_auth

    java_port = int(os.environ["PYTHON_WORKER_FACTORY_PORT"])
    auth_secret = os.environ["PYTHON_WORKER_FACTORY_SECRET"]
    (sock_file, sock) = local_connect_and_auth(java_port, auth_secret)
    sock.settimeout(None)
    write_int(os.getpid(), sock_file)
    sock_file.flush()
    from pyspark.sql.connect.streaming.worker import foreach_batch_worker

    foreach_batch_worker.main(sock_file, sock_file)
