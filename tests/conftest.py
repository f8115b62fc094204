"""Suite-wide fixtures: one real SparkSession and one real Kafka broker per test session.

All are lazy: a run whose tests request none of them starts no JVM. The broker, the
standalone cluster and the Connect server start in the background as soon as collection shows
a test needs them (support/prestart.py), so their start overlaps the first tests. Sub-directory
conftests add their own fixtures on top of these.

The shared JVM is guarded, because one dead JVM used to fail every Spark test after it with
``ConnectionRefusedError`` and one leaked streaming query could slow or break later tests:

- ``spark`` checks before each test that the JVM is alive; a dead one is reported once (exit
  code, the JVM's own last words) and replaced by a new session, so only the test during
  which it died fails.
- ``_no_leaked_streaming_queries`` (autouse) stops every streaming query a test left running
  on the shared session and fails that test, naming the queries.
- Tests under ``tests/unit/`` may not start a JVM: requesting ``spark`` there is an error.
- ``_isolated_registries`` (autouse) drops the formats and batch stages a test registered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# `support` (tests/support/) must import under any --import-mode, not only the default one.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from support.jvm_options import C1_ONLY  # noqa: E402
from support.kafka_broker import KafkaBroker  # noqa: E402
from support.prestart import Prestarts  # noqa: E402
from support.spark_cluster import ConnectServer, StandaloneCluster  # noqa: E402
from support.spark_jvm import SharedSpark  # noqa: E402

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.default.parallelism": "2",
    # C1-only JIT with the code cache a default JVM gets (support/jvm_options.py says why).
    # Benchmarks keep C2.
    "spark.driver.extraJavaOptions": C1_ONLY,
    # Idle Kafka producers of the shared JVM close after 10 s (Spark's default: 10 min), so
    # none is still reconnecting to the stopped broker when the session ends.
    "spark.kafka.producer.cache.timeout": "10s",
    "spark.kafka.producer.cache.evictorThreadRunInterval": "5s",
}

_UNIT_DIR = Path(__file__).resolve().parent / "unit"
# The broker, the cluster and the Connect server start in the background once collection
# shows they are needed (support/prestart.py); their fixtures claim them.
_PRESTARTS = Prestarts()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the real-service fixtures, so `-m "not spark and not kafka"` holds."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "spark" in fixtures:
            item.add_marker(pytest.mark.spark)
        if "kafka_broker" in fixtures:
            item.add_marker(pytest.mark.kafka)
        if "standalone_cluster" in fixtures or "connect_server" in fixtures:
            item.add_marker(pytest.mark.spark)
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not Prestarts.enabled():
        return
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    factory = session.config._tmp_path_factory  # what `tmp_path_factory` returns
    if "connect_server" in needed:
        work = factory.mktemp("connect")
        _PRESTARTS.start("connect_server", lambda work=work: ConnectServer(work).start())
    if "standalone_cluster" in needed:
        work = factory.mktemp("standalone")
        _PRESTARTS.start("standalone_cluster", lambda work=work: StandaloneCluster(work).start())
    if "kafka_broker" in needed:
        _PRESTARTS.start("kafka_broker", lambda: KafkaBroker().start())


def pytest_sessionfinish(session: pytest.Session) -> None:
    _PRESTARTS.stop_unclaimed()


@pytest.fixture(scope="session")
def _shared_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSpark]:
    conf = dict(SPARK_TEST_CONF)
    conf["spark.sql.warehouse.dir"] = str(tmp_path_factory.mktemp("spark-warehouse"))
    shared = SharedSpark(conf, tmp_path_factory.mktemp("spark-jvm"))
    yield shared
    shared.stop()


@pytest.fixture
def spark(request: pytest.FixtureRequest, _shared_spark: SharedSpark) -> SparkSession:
    """The SparkSession (local[2], Delta and Kafka jars, no UI) shared by the whole run."""
    if Path(str(request.node.path)).resolve().is_relative_to(_UNIT_DIR):
        pytest.fail("unit tests must not start a JVM: move this test under tests/integration/",
                    pytrace=False)
    return _shared_spark.session(request.node.nodeid)


@pytest.fixture(autouse=True)
def _isolated_registries() -> Iterator[None]:
    """Formats and batch stages a test registers are gone after it (no leak into later tests)."""
    from tauro_compile.streaming import batch_writer, formats

    saved_formats, saved_stages = formats.snapshot(), dict(batch_writer._STAGE_FACTORIES)
    yield
    formats.restore(saved_formats)
    batch_writer._STAGE_FACTORIES.clear()
    batch_writer._STAGE_FACTORIES.update(saved_stages)


@pytest.fixture(autouse=True)
def _no_leaked_streaming_queries(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a streaming query running on the shared session (and stop it)."""
    yield
    shared: SharedSpark | None = SharedSpark.current
    if shared is None:
        return
    leaked = shared.stop_active_queries()
    if leaked:
        pytest.fail(f"{request.node.nodeid} left streaming queries running (now stopped): "
                    + ", ".join(leaked), pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly that the shared JVM died, with what it said, even if later tests passed."""
    for line in SharedSpark.deaths:
        terminalreporter.write_line(line, red=True)
    for line in SharedSpark.code_cache:
        terminalreporter.write_line(line, red="over 80%" in line)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A real single-node Kafka broker (KRaft) on 127.0.0.1, started once per session."""
    broker = _PRESTARTS.claim("kafka_broker")
    if broker is None:
        broker = KafkaBroker().start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A Spark standalone master and one 2-core worker on 127.0.0.1, started once per session."""
    cluster = _PRESTARTS.claim("standalone_cluster")
    if cluster is None:
        cluster = StandaloneCluster(tmp_path_factory.mktemp("standalone")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    """A Spark Connect server (local[2], pinned Delta/Kafka jars), started once per session."""
    server = _PRESTARTS.claim("connect_server")
    if server is None:
        server = ConnectServer(tmp_path_factory.mktemp("connect")).start()
    try:
        yield server
    finally:
        server.stop()
