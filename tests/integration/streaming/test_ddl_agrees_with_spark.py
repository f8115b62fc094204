"""`streaming.ddl.check_ddl` accepts exactly the schema strings Spark accepts (Spark decides)."""

from __future__ import annotations

import pytest

from tauro_compile.streaming.ddl import check_ddl

pytestmark = pytest.mark.spark

CORPUS = [
    "a INT", "a INT, b STRING", "a int not null, b string comment 'x, y'", "a: INT, b: STRING",
    "`weird name` BIGINT", "d DECIMAL(10,2), e DEC, f NUMERIC(5)", "c CHAR(3), v VARCHAR(10)",
    "t TIMESTAMP, n TIMESTAMP_NTZ, l TIMESTAMP_LTZ, d DATE, b BINARY, x BOOLEAN",
    "arr ARRAY<STRING>, m MAP<STRING, INT>, s STRUCT<x: INT, y: ARRAY<DOUBLE>>",
    "s STRUCT<>", "struct<a:int,b:string>", "i INTERVAL DAY TO SECOND", "y INTERVAL YEAR",
    "b TINYINT, s SMALLINT, l LONG, sh SHORT, by BYTE, r REAL, f FLOAT",
    # mistakes
    "a DOUBEL", "a INT,, b STRING", "a INT b STRING", "a ARRAY<INT", "a MAP<INT>",
    "a DECIMAL(10,", "a VARCHAR", "a", "", "a INT NOT", "a STRUCT<x INT", "a INT)",
    "a INT COMMENT x", "a STRIGN, b INT",
]


@pytest.mark.parametrize("ddl", CORPUS)
def test_reader_schema_agrees(spark, ddl):
    from pyspark.sql.types import StructType

    try:
        spark.readStream.format("json").schema(ddl)
        StructType.fromDDL(ddl) if hasattr(StructType, "fromDDL") else None
        spark_accepts = True
    except Exception:  # noqa: BLE001 - any refusal by Spark
        spark_accepts = False
    assert (check_ddl(ddl) is None) == spark_accepts, check_ddl(ddl)


@pytest.mark.parametrize("ddl", ["struct<a:int,b:string>", "STRUCT<a: INT>", "a INT, b STRING",
                                 "struct<a:doubel>", "struct<a:int"])
def test_from_json_schema_agrees(spark, ddl):
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([('{"a": 1}',)], "value STRING")
    try:
        frame.select(F.from_json("value", ddl)).schema  # noqa: B018 - analysis parses the DDL
        spark_accepts = True
    except Exception:  # noqa: BLE001 - any refusal by Spark
        spark_accepts = False
    assert (check_ddl(ddl, struct_wrapper=True) is None) == spark_accepts
