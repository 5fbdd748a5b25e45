"""revlens: revenue analytics for marketing and sales teams.

import revlens
result = revlens.kpi("cpl,cac", start="2025-01-01", end="2025-06-30", grain="month",
                     by="channel", warehouse="revlens.duckdb")
result.rows            # tidy dicts, as `revlens kpi --format json` prints them
result.to_pandas()
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

# Memory for large arrays, settled before NumPy and Arrow are imported (both read these at
# import; a user's own setting wins). NumPy advises the kernel to back every array of 4 MB
# or more with transparent huge pages, and Arrow's default allocator (mimalloc) behaves
# alike: where THP defrag is "madvise" (Debian's and Ubuntu's default) such page faults
# may stall while the kernel compacts memory. Reading a 1M-row path file took 1.5-2x as
# long in about half the runs, all of it kernel time (benchmarks/RESULTS.md, round 4).
if "numpy" not in sys.modules:
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
if "pyarrow" not in sys.modules:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"

if TYPE_CHECKING:
    from revlens.compile.query import KpiResult


def kpi(
    ids: str | list[str],
    *,
    warehouse: str | None = None,
    catalog: str | None = None,
    **options: Any,
) -> KpiResult:
    """Compute KPIs like `revlens kpi`: options are KpiQuery's fields (start, end, grain,
    by, mode, window_days, lookback_days, compare); `by` may be a comma-separated string."""
    from pathlib import Path

    from revlens.catalog.dimensions import load_groupings
    from revlens.catalog.spec import load_catalog
    from revlens.compile.measures import MEASURES
    from revlens.compile.query import KpiQuery, run_kpis
    from revlens.model.warehouse import Warehouse

    names = ids.split(",") if isinstance(ids, str) else ids
    if isinstance(options.get("by"), str):
        options["by"] = tuple(d.strip() for d in options["by"].split(","))
    project = Path(catalog) if catalog else None
    query = KpiQuery(
        kpis=tuple(n.strip() for n in names), groupings=load_groupings(project), **options
    )
    with Warehouse.open(warehouse) as wh:
        return run_kpis(wh, query, load_catalog(project, measures=set(MEASURES)))
