"""The engines the analytics tests run on: the `engine` parameter values (the spark one
marked `spark`, and skipped with the reason when pyspark or Java is missing), the Spark
settings for test-sized data, and the type of `on_engine` (the fixtures are in conftest)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from typing import TypeVar

import pytest

from revlens.model.warehouse import Reader, Warehouse

SPARK_MISSING = (
    "pyspark is not installed (make test-spark installs it)"
    if importlib.util.find_spec("pyspark") is None
    else "Java is not on the PATH (Spark needs a Java 17+ runtime)"
    if shutil.which("java") is None
    else None
)
ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param(
        "spark",
        id="spark",
        marks=[
            pytest.mark.spark,
            pytest.mark.skipif(SPARK_MISSING is not None, reason=SPARK_MISSING or ""),
        ],
    ),
]
# A local session sized for test data (tables of a few rows to a few hundred thousand) on two
# cores, where Spark's fixed cost per query dominates: two partitions per shuffle (revlens'
# default is 8, Spark's 200); no adaptive re-planning between stages (measured: a small KPI
# query 1.8 s -> 1.0 s); the small in-memory tables Ibis sends (period spans, fx days) go to
# the JVM as Arrow instead of through Python workers; no web UI, no progress bars.
SPARK_TEST_CONFIG = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}

OnEngine = Callable[[Warehouse], Reader]


Test = TypeVar("Test", bound=Callable[..., None])


def duckdb_only(reason: str) -> Callable[[Test], Test]:
    """Declare a gap: a test of the analytics that cannot run on Spark, and why. The test is
    parametrised over the engines all the same (it takes the `engine` fixture), so that
    `make test-spark` reports its spark variant as skipped with `reason` (conftest's hook)
    instead of leaving it out unseen; the duckdb variant runs as before."""

    def declare(test: Test) -> Test:
        marked: Test = pytest.mark.usefixtures("engine")(
            pytest.mark.duckdb_only(reason=reason)(test)
        )
        return marked

    return declare
