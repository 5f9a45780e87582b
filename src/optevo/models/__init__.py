"""Networks trained by the search: the surrogate ConvNet and its K-copies grouped form."""

from optevo.models.convnet import (
    ConvNet,
    GeneratorDropout,
    count_parameters,
    dropout_mask,
    dropout_with_generator,
)
from optevo.models.grouped import (
    GroupedConvNet,
    GroupedLinear,
    grouped_from_models,
    models_from_grouped,
)

__all__ = [
    "ConvNet",
    "GeneratorDropout",
    "GroupedConvNet",
    "GroupedLinear",
    "count_parameters",
    "dropout_mask",
    "dropout_with_generator",
    "grouped_from_models",
    "models_from_grouped",
]
