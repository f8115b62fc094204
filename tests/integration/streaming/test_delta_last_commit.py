"""`storage.delta_last_commit` reads a path table's newest commit from its log: the same
version, operation and metrics Delta's own history gives, for every kind of write the batch
writer makes, and Delta is asked whenever the log is not plain."""

from __future__ import annotations

import shutil

from delta.tables import DeltaTable

from tauro_compile.streaming import storage


def history(spark, path: str) -> dict:
    row = DeltaTable.forPath(spark, path).history(1).first()
    return {"version": row["version"], "operation": row["operation"],
            "metrics": dict(row["operationMetrics"])}


def test_the_log_answer_is_delta_historys_for_append_overwrite_merge_and_a_skipped_replay(
        spark, tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "t")
    asked: list[str] = []
    real = storage.delta_table
    monkeypatch.setattr(storage, "delta_table",
                        lambda spark_, **where: asked.append(where["path"]) or real(spark_, **where))
    checked: list[str] = []
    real_check = storage.is_delta_table
    monkeypatch.setattr(storage, "is_delta_table", lambda spark_, **where: checked.append(
        where["path"]) or real_check(spark_, **where))
    assert storage.delta_last_commit(spark, path=path) is None  # no table yet
    assert checked == []  # told by the empty listing, Delta not asked to list it again
    spark.range(5).write.format("delta").option("txnAppId", "app").option(
        "txnVersion", "0").save(path)
    answers = [storage.delta_last_commit(spark, path=path)]
    assert answers[0] == history(spark, path)
    assert answers[0]["operation"] == "WRITE" and answers[0]["metrics"]["numOutputRows"] == "5"
    # a replayed batch (same txn) is skipped by Delta: the last commit stays the same
    spark.range(5).write.format("delta").mode("append").option("txnAppId", "app").option(
        "txnVersion", "0").save(path)
    assert storage.delta_last_commit(spark, path=path) == answers[0]
    spark.range(3).write.format("delta").mode("overwrite").save(path)
    answers.append(storage.delta_last_commit(spark, path=path))
    target = DeltaTable.forPath(spark, path)
    (target.alias("t").merge(spark.range(2, 6).alias("s"), "t.id = s.id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    answers.append(storage.delta_last_commit(spark, path=path))
    assert answers[-1] == history(spark, path)
    assert [a["version"] for a in answers] == [0, 1, 2]
    assert [a["operation"] for a in answers] == ["WRITE", "WRITE", "MERGE"]
    assert answers[-1]["metrics"]["numTargetRowsInserted"] == "3"

    assert asked == []  # all of it from the log files, none from Delta's history

    # Delta is asked when the log is not plain: here, a commit file without commitInfo
    copy = str(tmp_path / "copy")
    shutil.copytree(path, copy)
    newest = tmp_path / "copy" / "_delta_log" / f"{2:020d}.json"
    newest.write_text("\n".join(line for line in newest.read_text().splitlines()
                                if '"commitInfo"' not in line) + "\n")
    (newest.parent / f".{newest.name}.crc").unlink()  # the local filesystem's checksum
    assert storage.delta_last_commit(spark, path=copy)["version"] == 2
    assert asked == [copy]
    # and when a commit is staged (a catalog-managed table): it may be newer than the log's
    staged = tmp_path / "staged"
    shutil.copytree(path, staged)
    (staged / "_delta_log" / "_staged_commits").mkdir(exist_ok=True)
    (staged / "_delta_log" / "_staged_commits" / f"{3:020d}.0f1e.json").write_text("{}\n")
    assert storage._last_commit_from_log(spark, str(staged)) is None
