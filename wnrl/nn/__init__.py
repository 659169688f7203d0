"""Weight-norm layers, mean-only batch norm and data-dependent init (the math of wnrl)."""

from wnrl.nn.batch_norm import BATCH_NORMS, MeanOnlyBatchNorm
from wnrl.nn.convert import convert_to_weight_norm, fold_weight_norm, project_weight_norm_, weight_norm_layers
from wnrl.nn.init import data_dependent_init
from wnrl.nn.weight_norm import (
    TrackedParameter,
    WeightNormConv2d,
    WeightNormLinear,
    WeightNormMixin,
    is_weight_norm,
)

__all__ = [
    "WeightNormLinear",
    "WeightNormConv2d",
    "WeightNormMixin",
    "MeanOnlyBatchNorm",
    "BATCH_NORMS",
    "data_dependent_init",
    "convert_to_weight_norm",
    "fold_weight_norm",
    "project_weight_norm_",
    "weight_norm_layers",
    "is_weight_norm",
    "TrackedParameter",
]
