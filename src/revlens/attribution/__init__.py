"""Multi-touch attribution: who gets credit for conversions and their value.

from revlens.attribution import attribute_paths
result = attribute_paths("paths.csv", ["first_touch", "linear", "markov", "shapley"],
                         path_column="path", conversions_column="total_conversions",
                         value_column="total_conversion_value", nulls_column="total_null")
result.rows        # model, channel, conversions, value, share, removal_effect, ...

Rule-based models (rules.py), the Markov chain (markov.py, exact removal effects) and the
Shapley value (shapley.py, exact or sampled) share one base (base.py); journeys from the
warehouse come in as `Journey` objects (`attribute`), path files as rows (`attribute_paths`).
See docs/attribution.md.
"""

from __future__ import annotations

from revlens.attribution.api import attribute, attribute_paths
from revlens.attribution.base import AttributionModel, DataDrivenModel, ModelCredit, TouchModel
from revlens.attribution.journeys import NONE_CHANNEL, Journey, JourneyError, JourneyTable
from revlens.attribution.markov import MarkovChain, markov_states
from revlens.attribution.pathfile import PathColumns, read_path_file
from revlens.attribution.registry import DEFAULT_MODELS, MODEL_NAMES, ModelOptions, build_models
from revlens.attribution.result import AttributionResult
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
from revlens.attribution.shapley import Shapley, exact_shapley, subset_sums

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_NAMES",
    "NONE_CHANNEL",
    "AttributionModel",
    "AttributionResult",
    "CustomPositionWeights",
    "DataDrivenModel",
    "FirstTouch",
    "FullPath",
    "Journey",
    "JourneyError",
    "JourneyTable",
    "LastNonDirectTouch",
    "LastTouch",
    "Linear",
    "MarkovChain",
    "ModelCredit",
    "ModelOptions",
    "ModelParameterError",
    "PathColumns",
    "PositionBased",
    "Shapley",
    "TimeDecay",
    "TouchModel",
    "WShaped",
    "attribute",
    "attribute_paths",
    "build_models",
    "exact_shapley",
    "markov_states",
    "read_path_file",
    "subset_sums",
]
