"""`revlens attribution`: who gets credit for the conversions, under each model.

A thin layer over revlens.attribution: read the path file, build the models from the
flags, print the rows (a table, JSON or CSV) and what the reader should know about them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from revlens.attribution import AttributionResult, attribute
from revlens.attribution.pathfile import PathColumns, read_path_file
from revlens.attribution.registry import (
    DEFAULT_MODELS,
    MODEL_NAMES,
    ModelOptions,
    build_models,
    parse_custom_weights,
    parse_weights,
)
from revlens.cli.app import FormatOption, app, console, open_reader, print_rows
from revlens.cli.output import OutputFormat, err_console
from revlens.service import attribution_journeys


class ShapleyGame(StrEnum):
    conversions = "conversions"
    conversion_rate = "conversion_rate"


@app.command()
def attribution(
    paths: Annotated[
        Path | None,
        typer.Option(
            "--paths",
            help="A file of aggregated paths (CSV, Parquet, JSONL, XLSX): one row per path "
            "'a > b > c' with its conversions, and optionally value and nulls.",
        ),
    ] = None,
    path_column: Annotated[str, typer.Option(help="Column holding the path.")] = "path",
    separator: Annotated[str, typer.Option(help="Separator between channels.")] = ">",
    conversions_column: Annotated[
        str, typer.Option(help="Column with the number of conversions of the path.")
    ] = "conversions",
    value_column: Annotated[
        str | None, typer.Option(help="Column with the conversions' value (money).")
    ] = None,
    nulls_column: Annotated[
        str | None,
        typer.Option(help="Column with the journeys of the path that did not convert."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help=f"Models, comma-separated: {', '.join(MODEL_NAMES)}.",
        ),
    ] = ",".join(DEFAULT_MODELS),
    order: Annotated[int, typer.Option(help="Markov order: states are the last k channels.")] = 1,
    collapse: Annotated[
        bool,
        typer.Option(
            "--collapse/--no-collapse",
            help="Markov: merge repeated consecutive channels (a > a > b is a > b).",
        ),
    ] = True,
    direct: Annotated[
        str, typer.Option(help="last_non_direct: the direct channel names, comma-separated.")
    ] = "direct",
    half_life: Annotated[
        float,
        typer.Option(help="time_decay: half-life in days (in touches for paths without times)."),
    ] = 7.0,
    position_weights: Annotated[
        str, typer.Option(help="position_based: first,middle,last weights.")
    ] = "40,20,40",
    w_shaped_weights: Annotated[
        str, typer.Option(help="w_shaped: first,lead,opportunity,rest weights.")
    ] = "30,30,30,10",
    full_path_weights: Annotated[
        str, typer.Option(help="full_path: first,lead,opportunity,close,rest weights.")
    ] = "22.5,22.5,22.5,22.5,10",
    custom_weights: Annotated[
        str | None,
        typer.Option(
            help="custom: HEAD:MIDDLE:TAIL position weights, e.g. 0.3,0.1:0.2:0.1,0.3 "
            "(first two touches, the middle, the last two)."
        ),
    ] = None,
    shapley_game: Annotated[
        ShapleyGame,
        typer.Option(
            help="shapley: conversions (Zhao et al. 2018, exact) or conversion_rate "
            "(exact up to 20 channels, sampled beyond)."
        ),
    ] = ShapleyGame.conversions,
    shapley_samples: Annotated[
        int, typer.Option(help="shapley: permutations sampled beyond 20 channels.")
    ] = 2000,
    ci: Annotated[
        float | None,
        typer.Option(help="Bootstrap interval level for markov and shapley, e.g. 0.9."),
    ] = None,
    bootstrap: Annotated[
        int | None, typer.Option(help="Bootstrap replicates (default 200 with --ci).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every random draw.")] = 0,
    conversion: Annotated[
        str,
        typer.Option(
            help="Without --paths, from the warehouse: what converts: lead, mql, sql, "
            "opportunity, customer, pipeline (opportunity amounts) or revenue (won "
            "amounts)."
        ),
    ] = "customer",
    level: Annotated[
        str, typer.Option(help="Credit to: channel, source, medium, campaign or ad.")
    ] = "channel",
    lookback: Annotated[
        str, typer.Option(help="Touches counted before each conversion, e.g. 90d or 365d.")
    ] = "90d",
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day of conversions (default: a year before --to)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day of conversions (default: the newest data).")
    ] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Attribute conversions and their value to channels (or campaigns, ads): rule-based,
    Markov and Shapley models, over the warehouse's journeys or a file of aggregated paths."""
    custom = parse_custom_weights(custom_weights) if custom_weights else None
    options = ModelOptions(
        direct=tuple(d.strip() for d in direct.split(",") if d.strip()),
        half_life=half_life,
        position_weights=_three(parse_weights(position_weights, 3, "--position-weights")),
        w_shaped_weights=_four(parse_weights(w_shaped_weights, 4, "--w-shaped-weights")),
        full_path_weights=_five(parse_weights(full_path_weights, 5, "--full-path-weights")),
        custom_weights=custom,
        order=order,
        collapse=collapse,
        shapley_characteristic=shapley_game.value,
        shapley_samples=shapley_samples,
    )
    models = build_models(model, options)  # fails on a mistyped model before reading the file
    columns = PathColumns(
        path=path_column,
        conversions=conversions_column,
        value=value_column,
        nulls=nulls_column,
        separator=separator,
    )
    if paths is not None:
        journeys = read_path_file(paths, columns)
        source = str(paths)
    else:
        with open_reader() as wh:
            journeys, source = attribution_journeys(
                wh,
                model=model,
                conversion=conversion,
                level=level,
                lookback=lookback,
                start=start,
                end=end,
            )
    result = attribute(journeys, models, level=level, ci=ci, bootstrap=bootstrap, seed=seed)
    show(result, format, source=source)


def show(result: AttributionResult, fmt: OutputFormat, *, source: str) -> None:
    """Rows in the chosen format; in a table, numbers as people read them and the notes
    below it (with JSON and CSV the notes go to stderr, so stdout stays data)."""
    rows = result.rows
    if fmt is not OutputFormat.table:
        print_rows(rows, fmt, columns=result.columns)
        for note in result.notes:
            err_console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        return
    shown = [{k: _cell(k, v) for k, v in r.items()} for r in rows]
    ci = ""
    if result.ci:
        ci = f", {result.ci:.0%} bootstrap interval ({result.bootstrap} replicates)"
    title = (
        f"attribution of {result.total_conversions:,.0f} conversions "
        f"(value {result.total_value:,.2f}) from {source}{ci}"
    )
    print_rows(shown, fmt, columns=result.columns, title=title)
    comparison = compare_models(rows, result.level)
    if comparison:
        print_rows(
            comparison, fmt, title="share of credit by model, where they disagree most first"
        )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)


def compare_models(rows: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """Every model side by side per channel (shares of credit), sorted by the spread
    between the most and the least generous model; empty for a single model."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    if len(models) < 2:
        return []
    shares: dict[Any, dict[str, float]] = {}
    for r in rows:
        shares.setdefault(r[level], {})[r["model"]] = float(r["share"] or 0.0)
    table = []
    for key, per_model in shares.items():
        values = [per_model.get(m, 0.0) for m in models]
        spread = max(values) - min(values)
        table.append(
            (
                spread,
                {
                    level: key,
                    **{m: f"{per_model.get(m, 0.0):.1%}" for m in models},
                    "spread": f"{spread * 100:.1f} pp",
                },
            )
        )
    table.sort(key=lambda item: -item[0])
    return [row for _, row in table]


def _cell(column: str, value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if column == "share":
        return f"{value:.1%}"
    if column in ("removal_effect",):
        return f"{value:.4f}"
    if column == "shapley_value":
        return f"{value:.6g}"
    if column == "error_bound":
        return f"±{value:,.2f}"
    return f"{value:,.2f}"


def _three(v: tuple[float, ...]) -> tuple[float, float, float]:
    return (v[0], v[1], v[2])


def _four(v: tuple[float, ...]) -> tuple[float, float, float, float]:
    return (v[0], v[1], v[2], v[3])


def _five(v: tuple[float, ...]) -> tuple[float, float, float, float, float]:
    return (v[0], v[1], v[2], v[3], v[4])
