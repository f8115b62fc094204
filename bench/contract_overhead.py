"""Throughput of a contract-checked stream vs no contract vs a second-query design.

The same stream (parquet files, >= 2 million rows, read with an available_now trigger)
is written to Delta by:

  none        the plain Delta streaming sink, no contract;
  batch-none  foreachBatch with an idempotent Delta append, no contract (the path a
              contract runs in, so `warn / batch-none` isolates the contract's own cost);
  warn        our enforcement, policy warn: metrics observed on the write job itself;
  quarantine  our enforcement, policy quarantine: one pass computes the 10 rules and caches
              the rows that break one, valid rows (read again) to the sink and invalid
              ones to a quarantine table written in parallel, both with
              txnAppId/txnVersion (`quarantine-cached`: the whole batch cached instead);
  two-query   the design of tools that check streams from outside: the plain Delta sink
              plus a second foreachBatch query over the same source computing one count
              per rule (10 jobs per batch); the source is read twice.

Usage: .venv/bin/python bench/contract_overhead.py [--rows 1000000] [--rounds 3]
Rounds alternate the variants (after one warm-up round); the median time of each is reported
with Spark jobs and source scans per batch (from Spark's own status stores: a source scan is
the batch's rows coming out of the source's scan node; a re-read of a cached batch is not one).
The figures go to stdout and into bench/results/contracts.md between the bench markers, with
the command and the load average at start and end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tauro_compile.contracts import parse_contract
from tauro_compile.contracts.enforcer import ContractEnforcer
from tauro_compile.streaming.batch_writer import _SideWrite
from tauro_compile.streaming.session import build_spark_session

SCHEMA = ("id BIGINT, status STRING, amount DOUBLE, email STRING, country STRING, "
          "qty INT, day STRING, note STRING")

# Ten rules; about 1% of the rows break at least one.
CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:bench:orders
version: 1.0.0
schema:
  - name: orders
    properties:
      - {name: id, logicalType: integer, required: true}
      - name: status
        logicalType: string
        quality: [{mustBe: [new, paid, shipped, returned]}]
      - name: amount
        logicalType: number
        quality: [{mustBeGreaterOrEqualTo: 0}, {mustBeLessThan: 100000}]
      - {name: email, logicalType: string, logicalTypeOptions: {pattern: '^[a-z0-9.]+@[a-z]+[.][a-z]+$'}}
      - {name: country, logicalType: string, enum: [{value: ES}, {value: FR}, {value: DE}, {value: IT}]}
      - {name: qty, logicalType: integer, quality: [{mustBeBetween: [1, 1000]}]}
      - {name: day, logicalType: date, physicalType: string, logicalTypeOptions: {format: yyyy-MM-dd}}
    quality:
      - type: sql
        query: SELECT COUNT(*) FROM ${object} WHERE status = 'returned' AND amount > 50000
      - {metric: rowCount, mustBeGreaterThan: 0}
"""


def make_source(spark, directory: Path, rows: int, files: int) -> None:
    """Parquet files of synthetic orders; every 100th row breaks a rule."""
    from pyspark.sql import functions as F

    statuses = F.element_at(F.array(*[F.lit(s) for s in ("new", "paid", "shipped", "lost")]),
                            (F.col("id") % 4 + 1).cast("int"))
    countries = F.element_at(F.array(*[F.lit(c) for c in ("ES", "FR", "DE", "IT")]),
                             (F.col("id") % 4 + 1).cast("int"))
    bad = F.col("id") % 100 == 0
    df = (spark.range(rows, numPartitions=files)
          .withColumn("status", F.when(bad | (F.col("id") % 4 != 3), statuses).otherwise("paid"))
          .withColumn("amount", F.when(bad, F.lit(-1.0)).otherwise((F.col("id") % 5000) * 1.5))
          .withColumn("email", F.concat(F.lit("user"), (F.col("id") % 9999).cast("string"),
                                        F.lit("@example.com")))
          .withColumn("country", countries)
          .withColumn("qty", ((F.col("id") % 50) + 1).cast("int"))
          .withColumn("day", F.date_format(F.date_add(F.lit("2024-01-01"),
                                                      (F.col("id") % 365).cast("int")), "yyyy-MM-dd"))
          .withColumn("note", F.lit("lorem ipsum dolor sit amet")))
    df.write.mode("overwrite").parquet(str(directory))


def stream(spark, source: Path, files_per_batch: int):
    return (spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", files_per_batch)
            .parquet(str(source)))


def run_none(spark, source: Path, work: Path, files_per_batch: int) -> None:
    (stream(spark, source, files_per_batch).writeStream.format("delta")
     .option("checkpointLocation", str(work / "cp")).trigger(availableNow=True)
     .start(str(work / "sink")).awaitTermination())


def run_batch_none(spark, source: Path, work: Path, files_per_batch: int) -> None:
    def write_batch(batch_df, batch_id: int) -> None:
        batch_df.write.format("delta").mode("append").options(
            txnAppId="bench.orders", txnVersion=str(batch_id)).save(str(work / "sink"))

    (stream(spark, source, files_per_batch).writeStream.foreachBatch(write_batch)
     .option("checkpointLocation", str(work / "cp")).trigger(availableNow=True)
     .start().awaitTermination())


def run_ours(policy: str, reread: bool = True) -> Callable[..., None]:
    def run(spark, source: Path, work: Path, files_per_batch: int) -> None:
        contract = parse_contract(CONTRACT)
        enforcer = ContractEnforcer(contract, node="orders", policy=policy,
                                    quarantine_id=str(work / "quarantine"),
                                    reread_source=reread)  # as the stage sets it for parquet
        df = stream(spark, source, files_per_batch)
        enforcer.check_stream(df)

        def write_batch(batch_df, batch_id: int) -> None:
            prepared = enforcer.prepare_batch(batch_df, batch_id)
            txn = {"txnAppId": "bench.orders", "txnVersion": str(batch_id)}

            def quarantine() -> dict:
                prepared.quarantine.write.format("delta").mode("append").options(
                    **{**txn, "txnAppId": "bench.orders:quarantine"}).save(str(work / "quarantine"))
                return {}

            # As MicroBatchWriter writes a side output added `alongside` (the quarantine): with
            # its `_SideWrite`, in a second thread, in parallel with the main write.
            side = None if prepared.quarantine is None else _SideWrite(quarantine)
            try:
                prepared.main.write.format("delta").mode("append").options(**txn).save(
                    str(work / "sink"))
            finally:
                if side is not None:
                    side.join()
            if side is not None:
                side.result()  # the quarantine write's error, if it failed
            enforcer.complete_batch(prepared)

        (df.writeStream.foreachBatch(write_batch).option("checkpointLocation", str(work / "cp"))
         .trigger(availableNow=True).start().awaitTermination())
        failing = sum(1 for r in enforcer.results if r.status == "fail")
        assert failing == len(enforcer.results), "every batch should break a rule"
    return run


def run_two_queries(spark, source: Path, work: Path, files_per_batch: int) -> None:
    from pyspark.sql import functions as F

    contract = parse_contract(CONTRACT)
    conditions = [e for e in contract.expectations if e.condition]

    def observe_batch(batch_df, batch_id: int) -> None:
        batch_df.count()
        for e in conditions:  # one job per rule, as an external observer does
            batch_df.filter(F.expr(e.condition)).count()

    writer = (stream(spark, source, files_per_batch).writeStream.format("delta")
              .option("checkpointLocation", str(work / "cp")).trigger(availableNow=True)
              .start(str(work / "sink")))
    observer = (stream(spark, source, files_per_batch).writeStream.foreachBatch(observe_batch)
                .option("checkpointLocation", str(work / "cp-observer"))
                .trigger(availableNow=True).start())
    writer.awaitTermination()
    observer.awaitTermination()


VARIANTS: dict[str, Callable[..., None]] = {
    "none": run_none, "batch-none": run_batch_none, "warn": run_ours("warn"), "quarantine": run_ours("quarantine"),
    "quarantine-cached": run_ours("quarantine", reread=False),
    "two-query": run_two_queries,
}


class SparkCounters:
    """Spark jobs and source rows scanned since a mark, read from Spark's status stores."""

    def __init__(self, spark) -> None:
        self.jobs_store = spark.sparkContext._jsc.sc().statusStore()
        self.sql_store = spark._jsparkSession.sharedState().statusStore()
        self.mark()

    def mark(self) -> None:
        self.jobs = self.jobs_store.jobsList(None).size()
        self.executions = self.sql_store.executionsCount()

    def since_mark(self) -> tuple[int, int]:
        """(jobs, rows out of source scan nodes) since `mark()`."""
        jobs = self.jobs_store.jobsList(None).size() - self.jobs
        rows, index, listing = 0, 0, self.sql_store.executionsList().iterator()
        while listing.hasNext():
            execution = listing.next()
            index += 1
            if index <= self.executions:
                continue
            metrics = self.sql_store.executionMetrics(execution.executionId())
            nodes = self.sql_store.planGraph(execution.executionId()).allNodes()
            for i in range(nodes.size()):
                node = nodes.apply(i)
                # The plain sink scans the files; a foreachBatch batch is an RDD scan of them.
                if node.name().strip() not in ("Scan parquet", "Scan ExistingRDD"):
                    continue
                node_metrics = node.metrics()
                for j in range(node_metrics.size()):
                    metric = node_metrics.apply(j)
                    value = metrics.get(metric.accumulatorId())
                    if metric.name() == "number of output rows" and value.isDefined():
                        rows += int(re.sub(r"[^0-9]", "", value.get()) or 0)
        return jobs, rows


def write_results(text: str) -> None:
    """Replace the generated block of bench/results/contracts.md with `text`."""
    path = Path(__file__).parent / "results" / "contracts.md"
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    old = path.read_text() if path.exists() else f"# Contract enforcement overhead\n\n{start}\n{end}\n"
    if start not in old:
        old = old.rstrip() + f"\n\n{start}\n{end}\n"
    head, rest = old.split(start, 1)
    path.write_text(head + start + "\n" + text + rest[rest.index(end):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--files-per-batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--no-write", action="store_true", help="do not update bench/results")
    args = parser.parse_args()
    variants = {name: VARIANTS[name] for name in args.variants.split(",")}
    load_start = os.getloadavg()
    spark = build_spark_session("local[2]", "contract-bench", {
        "spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
    })
    spark.sparkContext.setLogLevel("ERROR")
    root = Path(tempfile.mkdtemp(prefix="tauro-contract-bench-"))
    batches = args.files // args.files_per_batch
    try:
        source = root / "source"
        make_source(spark, source, args.rows, args.files)
        counters = SparkCounters(spark)
        times: dict[str, list[float]] = {name: [] for name in variants}
        counts: dict[str, tuple[int, int]] = {}
        for round_no in range(args.rounds + 1):  # round 0 warms the JVM up, not counted
            for name, run in variants.items():
                work = root / f"{name}-{round_no}"
                counters.mark()
                start = time.perf_counter()
                run(spark, source, work, args.files_per_batch)
                elapsed = time.perf_counter() - start
                if round_no:
                    times[name].append(elapsed)
                    counts[name] = counters.since_mark()
                shutil.rmtree(work, ignore_errors=True)
        load_end = os.getloadavg()
        base = args.rows / statistics.median(times["none"]) if "none" in times else None
        lines = [f"Command: `.venv/bin/python bench/contract_overhead.py {' '.join(sys.argv[1:])}`",
                 "",
                 f"rows={args.rows:,} batches={batches} rules=10 rounds={args.rounds} (median "
                 f"of interleaved rounds after a warm-up); load average (1/5/15 min) at start "
                 f"{'/'.join(f'{x:.1f}' for x in load_start)}, at end "
                 f"{'/'.join(f'{x:.1f}' for x in load_end)}; {os.cpu_count()} CPUs.", "",
                 "| variant | median s | rows/s | vs none | jobs/batch | source scans/batch "
                 "| runs (s) |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for name, runs in times.items():
            rate = args.rows / statistics.median(runs)
            jobs, scanned = counts[name]
            ratio = f"{rate / base:.2f}" if base else "-"
            lines.append(f"| {name} | {statistics.median(runs):.2f} | {rate:,.0f} | {ratio} | "
                         f"{jobs / batches:.1f} | {scanned / args.rows:.2f} | "
                         + ", ".join(f"{t:.2f}" for t in runs) + " |")
        text = "\n".join(lines) + "\n"
        print(text)
        if not args.no_write:
            write_results(text)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        spark.stop()


if __name__ == "__main__":
    main()
