"""Benchmark data: the seeded demo data set as Parquet, then loaded into a warehouse file.

    benchmarks/data/demo-<n>/<table>/part-*.parquet   (written once; COMPLETE marks it done)
    benchmarks/data/demo-<n>.duckdb                   (built once from the Parquet files)

The warehouse is created with `Warehouse.open(path, create=True)` (the real schema, keys and
settings) and filled with one `INSERT INTO ... SELECT ... FROM read_parquet(...)` per table:
the bulk path. The validated import path (~8 µs/row) is not what the benchmark measures.
Both steps write to a temporary name and rename when complete, so an interrupted run is
redone rather than reused. (DuckDB spills to benchmarks/data/demo-<n>.duckdb.tmp/ when a
query needs more than its memory limit.)

    python benchmarks/prepare.py 1000000 [10000000 ...]
    python benchmarks/prepare.py --lake 1000000     # also benchmarks/data/lake-<n>/ (Spark)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
SEED = 42
MARKER = "COMPLETE"

sys.path.insert(0, str(ROOT.parent / "src"))


def log(msg: str) -> None:
    print(f"[prepare] {msg}", file=sys.stderr, flush=True)


def parquet_dir(contacts: int) -> Path:
    return DATA / f"demo-{contacts}"


def db_path(contacts: int) -> Path:
    return DATA / f"demo-{contacts}.duckdb"


def ensure_parquet(contacts: int, seed: int = SEED) -> Path:
    """Generate the Parquet files unless a complete set for (contacts, seed) is there."""
    from revlens.demo.generate import write_parquet

    out = parquet_dir(contacts)
    marker = out / MARKER
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("contacts") == contacts and info.get("seed") == seed:
            log(f"reusing {out}")
            return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"generating {contacts:,} contacts (seed {seed}) into {out} ...")
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            log(f"  chunk {done}/{total} ({time.perf_counter() - t0:.0f} s)")

    counts = write_parquet(tmp, contacts=contacts, seed=seed, progress=progress)
    secs = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    info = {"contacts": contacts, "seed": seed, "seconds": round(secs, 1), "rows": counts}
    (out / MARKER).write_text(json.dumps(info, indent=1))
    log(f"generated in {secs:.0f} s")
    return out


def ensure_warehouse(contacts: int) -> Path:
    """Build demo-<n>.duckdb from the Parquet files, once."""
    import duckdb

    from revlens.compile.facts import ensure_touch_facts
    from revlens.engines.duckdb import quote_ident
    from revlens.model.schema import TABLES
    from revlens.model.warehouse import Warehouse

    src = ensure_parquet(contacts)
    path = db_path(contacts)
    if path.exists():
        log(f"reusing {path}")
        # revlens may have gained schema migrations since the file was built: apply them
        # (they add tables; the loaded data is kept)
        with Warehouse.open(path, create=True) as wh:
            ensure_touch_facts(wh)  # as `revlens init` does
        return path
    # not <name>.duckdb.tmp: that is DuckDB's own spill directory for <name>.duckdb
    tmp = path.with_name(path.stem + ".building.duckdb")
    for stale in (tmp, Path(str(tmp) + ".wal")):
        stale.unlink(missing_ok=True)
    log(f"loading {src} into {path} ...")
    t0 = time.perf_counter()
    wh = Warehouse.open(tmp, create=True)
    con: duckdb.DuckDBPyConnection = wh.con
    con.execute("SET preserve_insertion_order = false")
    for table in TABLES:
        files = sorted((src / table.name).glob("*.parquet"))
        if not files:
            continue
        cols = ", ".join(quote_ident(c) for c in table.column_names)
        glob = str(src / table.name / "*.parquet").replace("'", "''")
        t1 = time.perf_counter()
        con.execute(
            f"INSERT INTO {quote_ident(table.name)} ({cols}) "
            f"SELECT {cols} FROM read_parquet('{glob}')"
        )
        log(f"  {table.name}: {time.perf_counter() - t1:.1f} s")
    ensure_touch_facts(wh)  # what an import records (this bulk load is not one)
    con.execute("CHECKPOINT")
    wh.close()
    os.replace(tmp, path)
    log(f"loaded in {time.perf_counter() - t0:.0f} s")
    return path


def lake_path(contacts: int) -> Path:
    return DATA / f"lake-{contacts}"


def ensure_lake(contacts: int) -> Path:
    """The warehouse exported once as a Parquet lake (`export_lake`, as `revlens export
    --format parquet` writes it) for the Spark tasks; reused while its manifest is there."""
    from revlens.engines.lake import MANIFEST, export_lake
    from revlens.model.warehouse import Warehouse

    out = lake_path(contacts)
    if (out / MANIFEST).is_file():
        log(f"reusing {out}")
        return out
    db = ensure_warehouse(contacts)
    log(f"exporting {db} to the lake {out} ...")
    t0 = time.perf_counter()
    wh = Warehouse.open(db, read_only=True)
    try:
        export_lake(wh, out, replace=True)
    finally:
        wh.close()
    log(f"exported in {time.perf_counter() - t0:.0f} s")
    return out


def row_counts(contacts: int) -> dict[str, int]:
    from revlens.model.warehouse import Warehouse

    wh = Warehouse.open(db_path(contacts))
    try:
        return wh.row_counts()
    finally:
        wh.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    lake = "--lake" in args
    for arg in (a for a in args if a != "--lake"):
        n = int(arg.replace("_", ""))
        ensure_lake(n) if lake else ensure_warehouse(n)
