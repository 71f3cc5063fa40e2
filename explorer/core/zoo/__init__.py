"""The model zoo. Importing this package registers every family."""

from explorer.core.zoo import (  # noqa: F401  (imported to register their specs)
    lenet,
    alexnet,
    zfnet,
    vgg,
    googlenet,
    resnet,
    efficientnet,
)
from explorer.core.zoo.registry import (
    FAMILIES,
    ModelSpec,
    Paper,
    WeightSource,
    get_spec,
    list_specs,
    zoo_specs,
)

__all__ = ["FAMILIES", "ModelSpec", "Paper", "WeightSource", "get_spec", "list_specs", "zoo_specs"]
