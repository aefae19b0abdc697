"""Hat's name for the losses module: `hat.objectives.get('categorical_crossentropy')`."""

from hat.losses import *  # noqa: F403
from hat.losses import get, names  # noqa: F401
from hat.metrics import categorical_error  # noqa: F401
