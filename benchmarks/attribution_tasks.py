"""The attribution tasks, run one per process by tasks.py (revlens' interpreter).

Path-file tasks read the synthetic path file (paths.py) through the path-file API, the
same entry point as `revlens attribution --paths FILE`; raw-touchpoint tasks build the
journeys from a warehouse (DuckDB) or a lake (Spark) as `warehouse_attribution` does. Each
returns (seconds, rows, credit, phases): credit per model and channel (conversions and
value), and the seconds of each phase (journeys, then each model) for the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import common

Credit = dict[str, dict[str, dict[str, float]]]  # model -> channel -> {conversions, value}
Result = tuple[float, int, Credit, dict[str, float]]

# the rule-based models of the registry that need no parameters (`custom` needs its
# weights); time_decay, w_shaped and full_path also need each touch's time and milestones
RULES = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "w_shaped",
    "full_path",
)
HEURISTIC = ("first_touch", "last_touch", "linear")  # the ones ChannelAttribution has
UNTIMED_RULES = tuple(m for m in RULES if m not in ("time_decay", "w_shaped", "full_path"))
TIMED_RULES = ("time_decay", "w_shaped", "full_path")
DATA_DRIVEN = ("markov", "shapley")
PATH_COLUMNS = {
    "path_column": "path",
    "conversions_column": "total_conversions",
    "value_column": "total_conversion_value",
    "nulls_column": "total_null",
}


def _credit(result: Any) -> Credit:
    """Per model and channel: conversions and value credited (and the removal effects of
    Markov); `(none)` for conversions without a touch."""
    from revlens.attribution import NONE_CHANNEL

    out: Credit = {}
    for model, c in result.credits.items():
        channels = out.setdefault(str(model), {})
        for i, name in enumerate(c.channels):
            entry = {"conversions": float(c.conversions[i]), "value": float(c.value[i])}
            if c.removal_effect is not None:
                entry["removal_effect"] = float(c.removal_effect[i])
            if c.removal_effect_value is not None:
                entry["removal_effect_value"] = float(c.removal_effect_value[i])
            channels[str(name)] = entry
        if result.has_none:
            channels[NONE_CHANNEL] = {
                "conversions": float(result.none_conversions),
                "value": float(result.none_value),
            }
    return out


def attribute_timed(journeys: Any, ids: tuple[str, ...], phases: dict[str, float]) -> Credit:
    """`attribute(journeys, ids, seed=0)`, the service's call, with each model's own time
    added to `phases` (the rest of the call is building the journey table)."""
    from revlens.attribution import attribute
    from revlens.attribution.registry import ModelOptions, build_models

    models = build_models(list(ids), ModelOptions())
    for model in models:
        for method in ("credit", "credit_with"):
            if hasattr(model, method):
                setattr(model, method, _timer(getattr(model, method), model.name, phases))
    t0 = time.perf_counter()
    result = attribute(journeys, models, seed=0)
    total = time.perf_counter() - t0
    own = sum(phases.get(m.name, 0.0) for m in models)
    phases["journey table"] = total - own
    return _credit(result)


def _timer(method: Any, name: str, phases: dict[str, float]) -> Any:
    def timed(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return method(*args)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

    return timed


# -- the path file -------------------------------------------------------------------------
def paths_task(models: tuple[str, ...]) -> Any:
    def run(path_file: str) -> Result:
        from revlens.attribution.pathfile import PathColumns, read_path_file

        columns = PathColumns(
            path="path",
            conversions="total_conversions",
            value="total_conversion_value",
            nulls="total_null",
        )
        t0 = time.perf_counter()
        journeys = read_path_file(Path(path_file), columns)
        phases = {"read the file": time.perf_counter() - t0}
        # one call for all models, as `revlens attribution --paths FILE --model a,b,c`
        credit = attribute_timed(journeys, models, phases)
        secs = time.perf_counter() - t0
        return secs, sum(len(v) for v in credit.values()), credit, phases

    return run


# -- raw touchpoints -----------------------------------------------------------------------
def journeys_task(conversion: str, models: tuple[str, ...], spark: bool = False) -> Any:
    """`warehouse_attribution(model=..., conversion=..., level="channel", lookback="90d")`
    over the whole 24 months, split in its two steps so the report shows where the time
    goes: the journeys (engine, then a columnar journey table) and each model."""

    def run(source: str) -> Result:
        from revlens.attribution.warehouse import needs_timing, warehouse_journeys

        t0 = time.perf_counter()
        reader = _open(source, spark)
        try:
            journeys = warehouse_journeys(
                reader,
                conversion,
                start=common.START,
                end=common.END,
                level="channel",
                lookback_days=common.LOOKBACK_DAYS,
                timed=needs_timing(list(models)),
            )
        finally:
            reader.close()
        phases = {"journeys": time.perf_counter() - t0}
        credit = attribute_timed(journeys, models, phases)
        secs = time.perf_counter() - t0
        distinct = len(journeys.journeys) if journeys.timed else journeys.paths.size
        phases["distinct journeys"] = float(distinct + journeys.has_empty)
        return secs, sum(len(v) for v in credit.values()), credit, phases

    return run


SPARK_DRIVER_MEMORY = "6g"
"""Spark local's driver (all of its work in local mode) gets the memory DuckDB gets; its
default, 1g, ran out of heap in the funnel at 1M contacts."""


def spark_reader(lake: str) -> Any:
    """A `LakeReader` on Spark local with SPARK_DRIVER_MEMORY (unless PYSPARK_SUBMIT_ARGS
    says otherwise): the benchmark's setting, not revlens'."""
    import os

    from revlens.engines.spark import LakeReader

    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS", f"--driver-memory {SPARK_DRIVER_MEMORY} pyspark-shell"
    )
    return LakeReader(Path(lake))


def _open(source: str, spark: bool) -> Any:
    if spark:
        return spark_reader(source)
    from revlens.model.warehouse import Warehouse

    return Warehouse.open(source)  # with revlens' memory limit (REVLENS_MEMORY_LIMIT)


def check_service_equivalence(db: str) -> list[str]:
    """The split tasks must give what `warehouse_attribution` gives (part of --quick)."""
    from revlens.model.warehouse import Warehouse
    from revlens.service import warehouse_attribution

    models = (*UNTIMED_RULES, *DATA_DRIVEN)
    wh = Warehouse.open(db)
    try:
        result, _ = warehouse_attribution(
            wh,
            model=",".join(models),
            conversion="customer",
            level="channel",
            lookback=f"{common.LOOKBACK_DAYS}d",
            start=common.START.isoformat(),
            end=common.END.isoformat(),
        )
    finally:
        wh.close()
    want = _credit(result)
    _, _, got, _ = journeys_task("customer", models)(db)
    bad = []
    for model, channels in want.items():
        for channel, entry in channels.items():
            mine = got.get(model, {}).get(channel)
            if mine is None or abs(mine["conversions"] - entry["conversions"]) > 1e-9:
                bad.append(f"{model} {channel}: service {entry}, task {mine}")
    return bad


TASKS: dict[str, Any] = {
    "revlens_paths_heuristic": paths_task(HEURISTIC),
    "revlens_paths_rules": paths_task(RULES),
    "revlens_paths_markov": paths_task(("markov",)),
    "revlens_attr_customer": journeys_task("customer", (*UNTIMED_RULES, *DATA_DRIVEN)),
    "revlens_attr_revenue": journeys_task("revenue", (*UNTIMED_RULES, *DATA_DRIVEN)),
    "revlens_attr_timed": journeys_task("customer", TIMED_RULES),
    "spark_attr_customer": journeys_task("customer", (*UNTIMED_RULES, *DATA_DRIVEN), spark=True),
}


if __name__ == "__main__":
    # python benchmarks/attribution_tasks.py WAREHOUSE: the tasks give the service's credit
    import sys

    differences = check_service_equivalence(sys.argv[1])
    print("\n".join(differences) or "the tasks give warehouse_attribution's credit")
    sys.exit(1 if differences else 0)
