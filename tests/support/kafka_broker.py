"""A real single-node Kafka broker (KRaft, broker+controller) on 127.0.0.1, for tests and dev.

The broker is the Apache Kafka 3.9.1 server itself, run from the jars that `make setup` fetches
from Maven Central into ``.venv/share/tauro/jars/kafka-broker/`` (override with
``$TAURO_KAFKA_JARS_DIR``). Nothing is downloaded at run time.

Topic administration, producing and consuming go through a small helper JVM built on the same
jars (Kafka's own AdminClient, KafkaProducer and KafkaConsumer), started lazily on the first such
call and kept for the broker's lifetime. Python talks to it over a length-prefixed binary
protocol on its stdin/stdout, so producing 200,000 records is one pipe write and a producer
flush, and no Python Kafka client is needed. The readiness probe is a plain Kafka Metadata
request sent from Python, so ``start()`` does not pay for that helper.

Run ``python tests/support/kafka_broker.py`` (or ``make kafka``) for a broker in the foreground.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:
    from support.jvm_options import C1_ONLY_JVM_OPTIONS
except ModuleNotFoundError:  # run as a script (`make kafka`): tests/support/ is sys.path[0]
    from jvm_options import C1_ONLY_JVM_OPTIONS

JARS_DIR_ENV = "TAURO_KAFKA_JARS_DIR"
KAFKA_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
_REPO_ROOT = Path(__file__).resolve().parents[2]
_RELATIVE_JARS_DIR = Path("share/tauro/jars/kafka-broker")
# Low start-up cost matters more than peak throughput for short-lived local JVMs.
_TOOL_JVM_OPTS = ["-Xmx256m", "-XX:+UseSerialGC", *C1_ONLY_JVM_OPTIONS, "-Xshare:auto"]


class KafkaBrokerError(RuntimeError):
    """The local Kafka broker or its client helper failed."""


@dataclass(frozen=True)
class KafkaRecord:
    """One record read back from a topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def kafka_jars_dir() -> Path:
    """Directory holding the Kafka broker jars (``$TAURO_KAFKA_JARS_DIR`` or the venv's share dir)."""
    env = os.environ.get(JARS_DIR_ENV)
    if env:
        return Path(env)
    for prefix in (Path(sys.prefix), _REPO_ROOT / ".venv"):
        candidate = prefix / _RELATIVE_JARS_DIR
        if any(candidate.glob("kafka_2.13-*.jar")):
            return candidate
    return Path(sys.prefix) / _RELATIVE_JARS_DIR


def java_executable() -> str:
    """Path of the ``java`` launcher (``$JAVA_HOME/bin/java`` first, then ``PATH``)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise KafkaBrokerError("no `java` found (set JAVA_HOME or put Java 17 on PATH)")
    return found


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return ``count`` distinct ports that were free a moment ago (bind-to-port-0 trick)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Redrawn while it starts with '-', which `kafka-storage format` would read as an option.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):
            return cid


def metadata_broker_count(host: str, port: int, timeout: float = 2.0) -> int:
    """Send a Kafka Metadata request (v4, no topics) and return how many brokers it lists."""
    client_id = b"tauro-probe"
    header = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id
    body = struct.pack(">ib", 0, 0)  # topics: empty array (none); allow_auto_topic_creation=false
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        response = _recv_exact(sock, size)
    correlation_id, _throttle_ms, broker_count = struct.unpack_from(">iii", response)
    if correlation_id != 1:
        raise KafkaBrokerError(f"unexpected correlation id {correlation_id} in metadata response")
    return broker_count


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes from a socket."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks += chunk
    return bytes(chunks)


def _tail(path: Path, lines: int = 60) -> str:
    """Last ``lines`` lines of a text file, or a note if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _to_bytes(value: bytes | bytearray | memoryview | str | None) -> bytes | None:
    """Encode a key or value for Kafka: str as UTF-8, bytes as is, None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


# Runs the broker JVM as its child and stops it (SIGTERM, then SIGKILL) when its stdin reaches
# EOF, i.e. when the Python process that holds the other end exits for any reason, SIGKILL
# included, so no broker outlives its test run. SIGTERM is forwarded; SIGINT is left to Python.
_WATCHDOG = """
import signal, subprocess, sys, threading
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def stop(*_):
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop, daemon=True).start())
def watch():
    sys.stdin.buffer.read()
    stop()
threading.Thread(target=watch, daemon=True).start()
code = child.wait()
sys.exit(code if code >= 0 else 128 - code)
"""

_LOG4J_BROKER = """\
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.Target=System.out
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
"""

_LOG4J_CLIENT = """\
log4j.rootLogger=WARN, err
log4j.appender.err=org.apache.log4j.ConsoleAppender
log4j.appender.err.Target=System.err
log4j.appender.err.layout=org.apache.log4j.PatternLayout
log4j.appender.err.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

# The client helper. Protocol (big-endian, as java.io.Data*Stream): the helper writes 'R' once
# ready; then each request is an op byte plus arguments, each response a status byte (0 ok,
# 1 error) and an int32-length-prefixed body (the op's payload, or the error message). Byte
# strings are an int32 length (-1 for null) followed by the bytes; text is the same, UTF-8.
_HELPER_CLASS = "TauroKafkaIO"
_HELPER_SOURCE = r"""
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class TauroKafkaIO {
    static String bootstrap;
    static Admin admin;
    static KafkaProducer<byte[], byte[]> producer;

    static byte[] readBytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0) return null;
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    static String readText(DataInputStream in) throws IOException {
        return new String(readBytes(in), StandardCharsets.UTF_8);
    }

    static void writeBytes(DataOutputStream out, byte[] b) throws IOException {
        if (b == null) { out.writeInt(-1); return; }
        out.writeInt(b.length);
        out.write(b);
    }

    static void writeText(DataOutputStream out, String s) throws IOException {
        writeBytes(out, s.getBytes(StandardCharsets.UTF_8));
    }

    static Admin admin() {
        if (admin == null) {
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("client.id", "tauro-test-admin");
            admin = Admin.create(p);
        }
        return admin;
    }

    static KafkaProducer<byte[], byte[]> producer() {
        if (producer == null) producer = newProducer();
        return producer;
    }

    static KafkaProducer<byte[], byte[]> newProducer() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "tauro-test-producer");
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("batch.size", "524288");
        p.put("buffer.memory", "134217728");
        p.put("max.request.size", "8388608");
        p.put("max.block.ms", "60000");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static Throwable root(Throwable t) {
        while ((t instanceof ExecutionException) && t.getCause() != null) t = t.getCause();
        return t;
    }

    static void awaitTopic(String topic, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            try {
                TopicDescription d = admin().describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                boolean ready = true;
                for (var p : d.partitions()) if (p.leader() == null || p.leader().isEmpty()) ready = false;
                if (ready) return;
            } catch (ExecutionException e) {
                if (System.currentTimeMillis() > deadline) throw e;
            }
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("topic " + topic + " has no leader yet");
            Thread.sleep(20);
        }
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16));
        System.setOut(System.err);
        DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(FileDescriptor.in), 1 << 16));
        out.writeByte('R');
        out.flush();
        while (true) {
            int op;
            try { op = in.readUnsignedByte(); } catch (EOFException e) { break; }
            if (op == 'Q') break;
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            DataOutputStream res = new DataOutputStream(buf);
            try {
                switch (op) {
                    case 'C': createTopic(in, res); break;
                    case 'D': deleteTopic(in, res); break;
                    case 'L': listTopics(res); break;
                    case 'P': produce(in, res); break;
                    case 'F': consume(in, res); break;
                    case 'W': warmUp(); break;
                    default: throw new IllegalArgumentException("unknown op " + op);
                }
                res.flush();
                out.writeByte(0);
                out.writeInt(buf.size());
                buf.writeTo(out);
            } catch (Exception e) {
                Throwable t = root(e);
                out.writeByte(1);
                writeText(out, t.getClass().getName() + ": " + t.getMessage());
            }
            out.flush();
        }
        if (producer != null) producer.close(Duration.ofSeconds(5));
        if (admin != null) admin.close(Duration.ofSeconds(5));
    }

    static void createTopic(DataInputStream in, DataOutputStream res) throws Exception {
        String topic = readText(in);
        int partitions = in.readInt();
        short replication = in.readShort();
        int nconf = in.readInt();
        Map<String, String> conf = new HashMap<>();
        for (int i = 0; i < nconf; i++) conf.put(readText(in), readText(in));
        boolean existOk = in.readByte() != 0;
        NewTopic nt = new NewTopic(topic, partitions, replication).configs(conf);
        try {
            admin().createTopics(List.of(nt)).all().get();
        } catch (ExecutionException e) {
            if (!(existOk && root(e) instanceof TopicExistsException)) throw e;
        }
        awaitTopic(topic, 30000);
    }

    static void deleteTopic(DataInputStream in, DataOutputStream res) throws Exception {
        String topic = readText(in);
        admin().deleteTopics(List.of(topic)).all().get();
    }

    static void listTopics(DataOutputStream res) throws Exception {
        Set<String> names = new TreeSet<>(admin().listTopics().names().get());
        res.writeInt(names.size());
        for (String n : names) writeText(res, n);
    }

    static void produce(DataInputStream in, DataOutputStream res) throws Exception {
        String topic = readText(in);
        int n = in.readInt();
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int partition = in.readInt();
            long ts = in.readLong();
            byte[] key = readBytes(in);
            byte[] value = readBytes(in);
            records.add(new ProducerRecord<>(topic, partition < 0 ? null : partition, ts < 0 ? null : ts, key, value));
        }
        AtomicReference<Exception> failure = new AtomicReference<>();
        KafkaProducer<byte[], byte[]> p = producer();
        for (ProducerRecord<byte[], byte[]> r : records) {
            p.send(r, (md, ex) -> { if (ex != null) failure.compareAndSet(null, ex); });
        }
        p.flush();
        if (failure.get() != null) throw failure.get();
        res.writeInt(n);
    }

    static KafkaConsumer<byte[], byte[]> newConsumer() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "tauro-test-consumer");
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("max.poll.records", "20000");
        p.put("max.partition.fetch.bytes", "16777216");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    // Loads the client classes while the broker is still starting: the throw-away clients are
    // closed before they get to connect (an idempotent producer connects as soon as it exists).
    static void warmUp() {
        newProducer().close(Duration.ZERO);
        newConsumer().close(Duration.ZERO);
    }

    static void consume(DataInputStream in, DataOutputStream res) throws Exception {
        String topic = readText(in);
        long timeoutMs = in.readLong();
        int minRecords = in.readInt();
        long deadline = System.currentTimeMillis() + timeoutMs;
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = newConsumer()) {
            List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofMillis(Math.max(timeoutMs, 1000)));
            if (infos == null || infos.isEmpty()) throw new IllegalArgumentException("topic '" + topic + "' does not exist");
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo i : infos) tps.add(new TopicPartition(topic, i.partition()));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            while (true) {
                if (minRecords >= 0) {
                    if (got.size() >= minRecords) break;
                } else {
                    boolean caughtUp = true;
                    for (TopicPartition tp : tps) if (c.position(tp) < end.get(tp)) caughtUp = false;
                    if (caughtUp) break;
                }
                long remaining = deadline - System.currentTimeMillis();
                if (remaining <= 0) break;
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(Math.min(remaining, 200)))) got.add(r);
            }
        }
        res.writeInt(got.size());
        for (ConsumerRecord<byte[], byte[]> r : got) {
            res.writeInt(r.partition());
            res.writeLong(r.offset());
            res.writeLong(r.timestamp());
            writeBytes(res, r.key());
            writeBytes(res, r.value());
        }
    }
}
"""


def _pack_bytes(value: bytes | None) -> bytes:
    """Length-prefixed bytes for the helper protocol (-1 for None)."""
    if value is None:
        return b"\xff\xff\xff\xff"
    return struct.pack(">i", len(value)) + value


class _ClientHelper:
    """The long-lived helper JVM running Kafka's own Admin/Producer/Consumer for the broker."""

    def __init__(self, java: str, classpath: str, bootstrap: str, work_dir: Path) -> None:
        """Compile-and-launch the helper (Java single-file source mode) and wait until ready."""
        source = work_dir / f"{_HELPER_CLASS}.java"
        source.write_text(_HELPER_SOURCE, encoding="utf-8")
        log4j = work_dir / "log4j-client.properties"
        log4j.write_text(_LOG4J_CLIENT, encoding="utf-8")
        self.log_path = work_dir / "client-helper.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        cmd = [
            java,
            *_TOOL_JVM_OPTS,
            f"-Dlog4j.configuration={log4j.as_uri()}",
            "-cp",
            classpath,
            str(source),
            bootstrap,
        ]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,  # like the broker: only Python decides when it stops
        )
        assert self._proc.stdout is not None and self._proc.stdin is not None
        self._in: IO[bytes] = self._proc.stdout
        self._out: IO[bytes] = self._proc.stdin
        if self._in.read(1) != b"R":
            self.close()
            raise KafkaBrokerError(
                f"the Kafka client helper did not start; its log:\n{_tail(self.log_path)}"
            )

    def call(self, request: bytes) -> memoryview:
        """Send one request, return the payload of a successful response."""
        with self._lock:
            if self._proc.poll() is not None:
                raise KafkaBrokerError(f"the Kafka client helper exited:\n{_tail(self.log_path)}")
            try:
                self._out.write(request)
                self._out.flush()
                status = self._read(1)
                (size,) = struct.unpack(">i", self._read(4))
                body = self._read(size)
            except (BrokenPipeError, EOFError) as exc:
                raise KafkaBrokerError(
                    f"the Kafka client helper died:\n{_tail(self.log_path)}"
                ) from exc
        if status != b"\x00":
            raise KafkaBrokerError(body.decode("utf-8", "replace"))
        return memoryview(body)

    def _read(self, size: int) -> bytes:
        """Read exactly ``size`` bytes from the helper."""
        data = self._in.read(size)
        if data is None or len(data) != size:
            raise EOFError("unexpected end of the helper's output")
        return data

    def close(self) -> None:
        """Ask the helper to quit, then make sure it is gone."""
        proc = self._proc
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                self._out.write(b"Q")
                self._out.flush()
                self._out.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()


class KafkaBroker:
    """A real single-node Kafka broker in KRaft mode (combined broker and controller)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        controller_port: int = 0,
        jars_dir: str | Path | None = None,
        heap: str = "512m",
        startup_timeout: float = 60.0,
        config: Mapping[str, Any] | None = None,
        keep_work_dir: bool = False,
    ) -> None:
        """Configure the broker; ``port=0`` picks free ports at ``start()``."""
        self.host = host
        self._requested_port = port
        self._requested_controller_port = controller_port
        self.port = port
        self.controller_port = controller_port
        self.jars_dir = Path(jars_dir) if jars_dir else kafka_jars_dir()
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.extra_config = dict(config or {})
        self.keep_work_dir = keep_work_dir
        self.cluster_id = random_cluster_id()
        self.work_dir: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._helper: _ClientHelper | None = None
        self._helper_thread: threading.Thread | None = None
        self._helper_lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the PLAINTEXT listener, for ``kafka.bootstrap.servers``."""
        if not self.port:
            raise KafkaBrokerError("the broker has not been started")
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        """The broker's log file (stdout and log4j output), once started."""
        return self.work_dir / "broker.log" if self.work_dir else None

    @property
    def is_running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> KafkaBroker:
        """Format storage, launch the broker and wait until it answers a Metadata request."""
        if self.is_running:
            return self
        java = java_executable()
        if not any(self.jars_dir.glob("kafka_2.13-*.jar")):
            raise KafkaBrokerError(
                f"Kafka broker jars not found in {self.jars_dir}; run `make setup` "
                f"(or point ${JARS_DIR_ENV} at a directory holding them)"
            )
        started = time.monotonic()
        auto_ports = not self._requested_port and not self._requested_controller_port
        attempts = 3 if auto_ports else 1
        for attempt in range(1, attempts + 1):
            try:
                self._launch(java)
                self._start_client_async(java)
                self._wait_until_ready(started)
                break
            except KafkaBrokerError:
                log_text = _tail(self.log_path, 200) if self.log_path else ""
                port_clash = "Address already in use" in log_text or "BindException" in log_text
                self.stop()
                if not (port_clash and attempt < attempts):
                    raise
            except BaseException:
                self.stop()
                raise
        self.startup_seconds = time.monotonic() - started
        atexit.register(self.stop)
        return self

    def _launch(self, java: str) -> None:
        """Write the configuration, format the storage and start the broker process."""
        self.work_dir = Path(tempfile.mkdtemp(prefix="tauro-kafka-"))
        ports = free_ports(2, self.host)
        self.port = self._requested_port or ports[0]
        self.controller_port = self._requested_controller_port or ports[1]
        server_properties = self.work_dir / "server.properties"
        server_properties.write_text(self._server_properties(), encoding="utf-8")
        log4j = self.work_dir / "log4j.properties"
        log4j.write_text(_LOG4J_BROKER, encoding="utf-8")
        classpath = str(self.jars_dir / "*")
        log4j_opt = f"-Dlog4j.configuration={log4j.as_uri()}"

        fmt = subprocess.run(
            [
                java,
                *_TOOL_JVM_OPTS,
                log4j_opt,
                "-cp",
                classpath,
                STORAGE_TOOL_CLASS,
                "format",
                "--cluster-id",
                self.cluster_id,
                "--config",
                str(server_properties),
                "--ignore-formatted",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
        if fmt.returncode != 0:
            raise KafkaBrokerError(
                "formatting the Kafka storage failed "
                f"(exit {fmt.returncode}):\n{fmt.stdout.decode('utf-8', 'replace')[-4000:]}"
            )

        self._log = open(self.work_dir / "broker.log", "ab")  # noqa: SIM115 - closed in stop()
        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseSerialGC",
            # C1 only: starts ~30% faster on a busy 2-core box; throughput is ample for tests.
            *C1_ONLY_JVM_OPTIONS,
            "-Xshare:auto",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",
            log4j_opt,
            f"-Dkafka.logs.dir={self.work_dir / 'logs'}",
            "-cp",
            classpath,
            KAFKA_MAIN_CLASS,
            str(server_properties),
        ]
        # Own session: a Ctrl-C meant for the test run or `make kafka` reaches Python, which
        # then stops the broker in order, instead of the broker dying mid-test on its own.
        # The watchdog between them stops the broker if this process dies without stop().
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, *cmd],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
            start_new_session=True,
        )

    def _server_properties(self) -> str:
        """The broker's server.properties: one node, both roles, everything local and small."""
        assert self.work_dir is not None
        listeners = (
            f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}"
        )
        props: dict[str, Any] = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.work_dir / "data",
            "auto.create.topics.enable": "false",
            "delete.topic.enable": "true",
            "num.partitions": 1,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "log.retention.hours": 24,
            "log.segment.bytes": 64 * 1024 * 1024,
        }
        props.update(self.extra_config)
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _wait_until_ready(self, started: float) -> None:
        """Block until the broker serves a Metadata request listing itself, or fail clearly."""
        deadline = started + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise KafkaBrokerError(
                    f"the Kafka broker exited with code {self._proc.returncode} during start-up; "
                    f"tail of {self.log_path}:\n{_tail(self.log_path) if self.log_path else ''}"
                )
            try:
                if metadata_broker_count(self.host, self.port, timeout=1.0) >= 1:
                    return
            except (OSError, KafkaBrokerError, struct.error) as exc:
                last_error = exc
            time.sleep(0.1)
        raise KafkaBrokerError(
            f"the Kafka broker did not become ready on {self.host}:{self.port} within "
            f"{self.startup_timeout:.0f} s (last probe error: {last_error!r}); "
            f"tail of {self.log_path}:\n{_tail(self.log_path) if self.log_path else ''}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the helper and the broker (SIGTERM, then SIGKILL) and delete the work dir."""
        with self._helper_lock:
            if self._helper_thread is not None:
                self._helper_thread.join(timeout=60)
                self._helper_thread = None
            if self._helper is not None:
                self._helper.close()
                self._helper = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the watchdog forwards it to the broker
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)  # watchdog and broker
                    proc.wait()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.work_dir is not None and not self.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> KafkaBroker:
        """Start the broker for a ``with`` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the broker at the end of a ``with`` block."""
        self.stop()

    def __repr__(self) -> str:
        """Show where the broker listens and whether it runs."""
        state = "running" if self.is_running else "stopped"
        return f"KafkaBroker({self.host}:{self.port or '?'}, {state})"

    # ----------------------------------------------------------------- client helpers

    def _start_client_async(self, java: str) -> None:
        """Start the client helper JVM in the background, overlapping the broker's start-up."""
        assert self.work_dir is not None
        work_dir, bootstrap = self.work_dir, self.bootstrap_servers

        def run() -> None:
            try:
                helper = _ClientHelper(java, str(self.jars_dir / "*"), bootstrap, work_dir)
            except KafkaBrokerError:
                return  # _client() retries in the foreground and reports the error
            try:
                helper.call(b"W")
            except KafkaBrokerError:
                helper.close()
                return
            self._helper = helper

        self._helper_thread = threading.Thread(target=run, name="kafka-client-helper", daemon=True)
        self._helper_thread.start()

    def _call(self, request: bytes) -> memoryview:
        """One client helper request. A failure carries the tails of the broker's and the
        helper's logs: a produce whose records expire (once, after 120 s, for one partition
        of a topic just created) is otherwise impossible to explain after the session."""
        try:
            return self._client().call(request)
        except KafkaBrokerError as exc:
            helper = self._helper.log_path if self._helper is not None else None
            raise KafkaBrokerError(
                f"{exc}\n--- tail of the broker log {self.log_path}:\n"
                f"{_tail(self.log_path) if self.log_path else ''}\n"
                f"--- tail of the client helper log {helper}:\n"
                f"{_tail(helper, 20) if helper else ''}") from exc

    def _client(self) -> _ClientHelper:
        """The client helper JVM (started in the background by ``start()``)."""
        if not self.is_running or self.work_dir is None:
            raise KafkaBrokerError("the Kafka broker is not running; call start() first")
        with self._helper_lock:
            if self._helper_thread is not None:
                self._helper_thread.join()
                self._helper_thread = None
            if self._helper is None:
                self._helper = _ClientHelper(
                    java_executable(),
                    str(self.jars_dir / "*"),
                    self.bootstrap_servers,
                    self.work_dir,
                )
            return self._helper

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        config: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        request = [b"C", _pack_bytes(name.encode()), struct.pack(">ih", partitions, 1)]
        items = dict(config or {})
        request.append(struct.pack(">i", len(items)))
        for key, value in items.items():
            request += [_pack_bytes(str(key).encode()), _pack_bytes(str(value).encode())]
        request.append(b"\x01" if exist_ok else b"\x00")
        self._call(b"".join(request))

    def delete_topic(self, name: str) -> None:
        """Delete a topic."""
        self._call(b"D" + _pack_bytes(name.encode()))

    def list_topics(self) -> list[str]:
        """Names of the topics on the broker (internal ones included), sorted."""
        payload = self._call(b"L")
        (count,) = struct.unpack_from(">i", payload, 0)
        pos, names = 4, []
        for _ in range(count):
            (size,) = struct.unpack_from(">i", payload, pos)
            names.append(bytes(payload[pos + 4 : pos + 4 + size]).decode())
            pos += 4 + size
        return names

    def produce(
        self,
        topic: str,
        values: Sequence[bytes | str | None],
        keys: Sequence[bytes | str | None] | None = None,
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> int:
        """Write records (str is UTF-8 encoded) and wait until all are acknowledged; return the count."""
        if keys is not None and len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        fixed = struct.pack(
            ">iq",
            -1 if partition is None else partition,
            -1 if timestamp_ms is None else timestamp_ms,
        )
        parts = [b"P", _pack_bytes(topic.encode()), struct.pack(">i", len(values))]
        key_iter: Iterator[bytes | str | None] = iter(keys) if keys is not None else _nones()
        for value, key in zip(values, key_iter, strict=False):
            parts += [fixed, _pack_bytes(_to_bytes(key)), _pack_bytes(_to_bytes(value))]
        payload = self._call(b"".join(parts))
        return struct.unpack_from(">i", payload, 0)[0]

    def consume(
        self, topic: str, timeout: float = 10.0, *, min_records: int | None = None
    ) -> list[KafkaRecord]:
        """Read a topic from the beginning, ordered by (partition, offset).

        Without ``min_records``: everything up to the end offsets seen at call time (returns as
        soon as caught up). With ``min_records``: waits until that many records exist. Either way
        at most ``timeout`` seconds, returning what was read by then.
        """
        request = (
            b"F"
            + _pack_bytes(topic.encode())
            + struct.pack(">qi", int(timeout * 1000), -1 if min_records is None else min_records)
        )
        payload = self._call(request)
        (count,) = struct.unpack_from(">i", payload, 0)
        pos, records = 4, []
        unpack_fixed = struct.Struct(">iqq").unpack_from
        unpack_int = struct.Struct(">i").unpack_from
        for _ in range(count):
            part, offset, timestamp = unpack_fixed(payload, pos)
            pos += 20
            fields: list[bytes | None] = []
            for _field in range(2):
                (size,) = unpack_int(payload, pos)
                pos += 4
                if size < 0:
                    fields.append(None)
                else:
                    fields.append(bytes(payload[pos : pos + size]))
                    pos += size
            records.append(KafkaRecord(topic, part, offset, timestamp, fields[0], fields[1]))
        records.sort(key=lambda r: (r.partition, r.offset))
        return records


def _nones() -> Iterator[None]:
    """An endless stream of None (records without keys)."""
    while True:
        yield None


def main(argv: Sequence[str] | None = None) -> int:
    """Run a broker in the foreground until Ctrl-C (``make kafka``)."""
    parser = argparse.ArgumentParser(description="Run a local single-node Kafka broker (KRaft).")
    parser.add_argument("--port", type=int, default=9092, help="PLAINTEXT port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="NAME[:PARTITIONS]",
        help="create this topic once the broker is up (repeatable)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work dir (logs, data) on exit"
    )
    args = parser.parse_args(argv)

    def _terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    broker = KafkaBroker(host=args.host, port=args.port, keep_work_dir=args.keep)
    try:
        broker.start()
        for spec in args.topic:
            name, _, partitions = spec.partition(":")
            broker.create_topic(name, int(partitions or 1), exist_ok=True)
            print(f"created topic {name}", flush=True)
        print(
            f"Kafka {broker.bootstrap_servers} ready in {broker.startup_seconds:.1f} s "
            f"(log: {broker.log_path}). Ctrl-C to stop.",
            flush=True,
        )
        print(f"bootstrap.servers={broker.bootstrap_servers}", flush=True)
        while broker.is_running:
            time.sleep(0.5)
        print(f"the broker exited on its own; tail of its log:\n{_tail(broker.log_path)}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping the broker...", flush=True)
        return 0
    except KafkaBrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
