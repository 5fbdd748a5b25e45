"""Spark: the canonical tables read from a Parquet lake written by `revlens export`, through
Ibis's PySpark backend. Everything Spark-specific lives here; the KPI, funnel and attribution
code is the same Ibis expressions that run on DuckDB."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from revlens.engines.lake import MANIFEST
from revlens.errors import RevlensError
from revlens.model.schema import TABLES, ColumnType, Table
from revlens.model.warehouse import WarehouseSettings

DEFAULT_MASTER = "local[*]"


def _float_literals_as_double() -> None:
    """Ibis writes a float literal as `10.0`, which Spark SQL reads as a DECIMAL, so sums and
    means of such values came back as decimals cut to a few places (a mean lead score of
    14.58824 for 14.588235...). Cast every float literal to DOUBLE, as DuckDB reads it."""
    import ibis.expr.datatypes as dt
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    original = PySparkCompiler.visit_NonNullLiteral
    if getattr(original, "revlens_double", False):
        return

    def visit(self: Any, op: Any, *, value: Any, dtype: Any) -> Any:
        result = original(self, op, value=value, dtype=dtype)
        if dtype.is_floating() and result is not None:
            return self.cast(result, dt.float64)
        return result

    visit.revlens_double = True  # type: ignore[attr-defined]
    PySparkCompiler.visit_NonNullLiteral = visit


def spark_session(master: str | None = None, config: Mapping[str, str] | None = None) -> Any:
    """The Spark session (local on all cores unless `master` names a cluster), in UTC, the
    zone the warehouse stores its timestamps in. `config` adds or overrides Spark settings
    (the tests use fewer shuffle partitions for their small tables); as with any Spark
    session, the first call in a process creates it and later calls reuse it."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RevlensError(
            "Spark is not installed",
            code="RL043",
            fix="pip install -e '.[spark]' (needs Java 17 or newer on the PATH)",
        ) from None
    if shutil.which("java") is None:
        raise RevlensError(
            "Spark needs Java, and there is none on the PATH",
            code="RL045",
            fix="install a Java 17+ runtime (e.g. apt-get install default-jre-headless)",
        )
    master = master or DEFAULT_MASTER
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "8",
        **(local_memory() if master.startswith("local") else {}),
        **(config or {}),
    }
    builder = SparkSession.builder.master(master).appName("revlens")
    for name, value in settings.items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def local_memory() -> dict[str, str]:
    """Local Spark does all its work in the driver, whose default 1 GB heap ran out in the
    1M-contact funnel: give it REVLENS_SPARK_DRIVER_MEMORY (default 4g)."""
    return {"spark.driver.memory": os.environ.get("REVLENS_SPARK_DRIVER_MEMORY", "4g")}


SPARK_TYPES: dict[ColumnType, str] = {
    "string": "string",
    "timestamp": "timestamp",
    "date": "date",
    "number": "double",
    "integer": "bigint",
    "boolean": "boolean",
}


def _table_frame(session: Any, lake: Path, table: Table) -> Any:
    """The table's frame with its canonical columns. A lake exported by an older revlens
    lacks the tables and columns added since (schema version 4: web_traffic, spend.platform,
    ...): a missing table reads as empty and a missing column as null, which is what a
    warehouse migrated forward holds for data imported before."""
    from pyspark.sql import functions as F

    folder = lake / table.name
    if folder.is_dir() and any(folder.rglob("*.parquet")):
        frame = session.read.option("basePath", str(folder)).parquet(str(folder))
    else:
        ddl = ", ".join(f"`{c.name}` {SPARK_TYPES[c.type]}" for c in table.columns)
        frame = session.createDataFrame([], ddl)
    present = set(frame.columns)
    return frame.select(
        *[
            F.col(c.name)
            if c.name in present
            else F.lit(None).cast(SPARK_TYPES[c.type]).alias(c.name)
            for c in table.columns
        ]
    )


class LakeReader:
    """The analytics view of a Parquet lake on Spark: the same `ibis` and `settings()` that
    a DuckDB warehouse gives (model.warehouse.Reader).

    The tables are Spark temporary views named as the canonical tables, and a session has
    one view per name; so with several lakes open in one process (the tests open one per
    warehouse they build), each reader registers its views again when it is used after
    another reader registered its own. `session` reuses a session the caller built (else
    `spark_session(master)`)."""

    _active: LakeReader | None = None  # the reader whose views the session holds now

    def __init__(self, lake: Path, master: str | None = None, *, session: Any = None) -> None:
        manifest_path = lake / MANIFEST
        if not manifest_path.is_file():
            raise RevlensError(
                "not a revlens lake (no manifest)",
                where=str(lake),
                code="RL042",
                fix="write one with `revlens export --format parquet --out PATH`",
            )
        self.path = lake
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        session = session if session is not None else spark_session(master)
        self._frames: dict[str, Any] = {}
        for table in TABLES:
            self._frames[table.name] = _table_frame(session, lake, table)
        self._register()
        import ibis

        _float_literals_as_double()
        self._ibis = ibis.pyspark.connect(session)

    def _register(self) -> None:
        for name, frame in self._frames.items():
            frame.createOrReplaceTempView(name)
        LakeReader._active = self

    @property
    def ibis(self) -> Any:
        if LakeReader._active is not self:
            self._register()
        return self._ibis

    def settings(self) -> WarehouseSettings:
        return WarehouseSettings.model_validate(self.manifest["settings"])

    def fact(self, key: str) -> Any:
        """The warehouse's facts as they were when the lake was exported."""
        return self.manifest.get("facts", {}).get(key)

    def close(self) -> None:
        """Nothing to close: the session lives as long as the process."""

    def __enter__(self) -> LakeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
