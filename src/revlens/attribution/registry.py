"""Model ids and their options: turn `--model first_touch,markov` and the option flags into
model objects, with "did you mean" for a mistyped id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from revlens.attribution.base import AttributionModel
from revlens.attribution.markov import MarkovChain
from revlens.attribution.rules import (
    CustomPositionWeights,
    FirstTouch,
    FullPath,
    LastNonDirectTouch,
    LastTouch,
    Linear,
    ModelParameterError,
    PositionBased,
    TimeDecay,
    WShaped,
)
from revlens.attribution.shapley import EXACT_MAX_CHANNELS, Characteristic, Shapley
from revlens.errors import UnknownName


@dataclass(frozen=True)
class ModelOptions:
    """Parameters of the models named by id (instances carry their own)."""

    direct: tuple[str, ...] = ("direct",)
    half_life: float = 7.0
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    w_shaped_weights: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.1)
    full_path_weights: tuple[float, float, float, float, float] = (0.225, 0.225, 0.225, 0.225, 0.1)
    custom_weights: tuple[tuple[float, ...], float, tuple[float, ...]] | None = None
    order: int = 1
    collapse: bool = True
    shapley_characteristic: Characteristic = "conversions"
    shapley_exact_max_channels: int = EXACT_MAX_CHANNELS
    shapley_samples: int = 2000
    shapley_confidence: float = 0.95

    @classmethod
    def of(cls, options: dict[str, object]) -> ModelOptions:
        known = [f.name for f in fields(cls)]
        for key in options:
            if key not in known:
                raise UnknownName("attribution option", key, known)
        return cls(**options)  # type: ignore[arg-type]


def _custom(o: ModelOptions) -> AttributionModel:
    if o.custom_weights is None:
        raise ModelParameterError(
            "the custom model needs position weights",
            fix="pass --custom-weights HEAD:MIDDLE:TAIL, e.g. 0.3,0.1:0.2:0.1,0.3",
        )
    head, middle, tail = o.custom_weights
    return CustomPositionWeights(head=head, middle=middle, tail=tail)


FACTORIES: dict[str, Callable[[ModelOptions], AttributionModel]] = {
    "first_touch": lambda o: FirstTouch(),
    "last_touch": lambda o: LastTouch(),
    "last_non_direct": lambda o: LastNonDirectTouch(o.direct),
    "linear": lambda o: Linear(),
    "time_decay": lambda o: TimeDecay(o.half_life),
    "position_based": lambda o: PositionBased(*o.position_weights),
    "w_shaped": lambda o: WShaped(*o.w_shaped_weights),
    "full_path": lambda o: FullPath(*o.full_path_weights),
    "custom": _custom,
    "markov": lambda o: MarkovChain(order=o.order, collapse=o.collapse),
    "shapley": lambda o: Shapley(
        characteristic=o.shapley_characteristic,
        exact_max_channels=o.shapley_exact_max_channels,
        samples=o.shapley_samples,
        confidence=o.shapley_confidence,
    ),
}
ALIASES = {"u_shaped": "position_based", "z_shaped": "full_path"}
MODEL_NAMES: tuple[str, ...] = tuple(FACTORIES)
DEFAULT_MODELS: tuple[str, ...] = ("first_touch", "last_touch", "linear", "markov")


def canonical_name(text: str) -> str:
    """A model id as people type it ('U-Shaped', 'z_shaped') as the registry names it."""
    name = text.strip().lower().replace("-", "_")
    return ALIASES.get(name, name)


def build_models(
    models: str | Sequence[str | AttributionModel], options: ModelOptions
) -> list[AttributionModel]:
    """Model objects for ids (comma-separated or a list) and ready-made instances."""
    items = models.split(",") if isinstance(models, str) else list(models)
    built: list[AttributionModel] = []
    for item in items:
        if isinstance(item, AttributionModel):
            built.append(item)
            continue
        name = canonical_name(item)
        if not name:
            continue
        if name not in FACTORIES:
            raise UnknownName("attribution model", item.strip(), [*MODEL_NAMES, *ALIASES])
        built.append(FACTORIES[name](options))
    if not built:
        raise UnknownName("attribution model", "", MODEL_NAMES)
    seen: set[str] = set()
    for model in built:
        if model.name in seen:
            raise ModelParameterError(
                f"model {model.name!r} is asked for twice",
                value=model.name,
                fix="name each model once (run again for other parameters)",
            )
        seen.add(model.name)
    return built


def parse_weights(text: str, count: int, option: str) -> tuple[float, ...]:
    """'40,20,40' -> (40.0, 20.0, 40.0), checking how many numbers there are."""
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise ModelParameterError(
            f"{option} takes {count} comma-separated numbers",
            value=text,
            fix=f"e.g. {option} {','.join(['1'] * count)}",
        )
    return values


def parse_custom_weights(text: str) -> tuple[tuple[float, ...], float, tuple[float, ...]]:
    """'0.3,0.1:0.2:0.1,0.3' -> head (0.3, 0.1), middle 0.2, tail (0.1, 0.3); a side may be
    empty (':0.5:0.5' has no head weights)."""
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        head = tuple(float(p) for p in parts[0].split(",") if p.strip())
        middle = float(parts[1]) if parts[1].strip() else 0.0
        tail = tuple(float(p) for p in parts[2].split(",") if p.strip())
    except ValueError:
        raise ModelParameterError(
            "--custom-weights takes HEAD:MIDDLE:TAIL, each side comma-separated numbers",
            value=text,
            fix="e.g. --custom-weights 0.3,0.1:0.2:0.1,0.3 (first two, middle, last two)",
        ) from None
    return head, middle, tail
