"""Weight-norm and spectral-norm layers, mean-only batch norm, batch renormalization and
data-dependent init (the math of wnrl)."""

from wnrl.nn.batch_norm import BATCH_NORMS, MeanOnlyBatchNorm
from wnrl.nn.batch_renorm import BatchRenorm
from wnrl.nn.convert import convert_to_weight_norm, fold_weight_norm, project_weight_norm_, weight_norm_layers
from wnrl.nn.init import data_dependent_init
from wnrl.nn.spectral import SpectralNormConv2d, SpectralNormLinear, SpectralNormMixin, spectral_norm_layers
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
    "BatchRenorm",
    "SpectralNormLinear",
    "SpectralNormConv2d",
    "SpectralNormMixin",
    "spectral_norm_layers",
]
