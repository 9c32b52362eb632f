"""The one training engine shared by every task; see :mod:`speechrnn.train` for the config."""
from .config import DataConfig, RunConfig, TrainConfig, resolve_config
from .loop import Trainer

__all__ = ["DataConfig", "RunConfig", "TrainConfig", "Trainer", "resolve_config"]
