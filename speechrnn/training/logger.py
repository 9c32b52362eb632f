"""Training logs: CSV files (always) and TensorBoard (when the package is installed)."""
from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger("speechrnn.train")


class RunLogger:
    """Append rows to ``<exp>/<name>.csv`` and mirror scalars to TensorBoard if available.

    Only create it on rank 0. Columns are fixed by the first row written to each file.
    """

    def __init__(self, exp_dir: Path):
        self.exp_dir = Path(exp_dir)
        self._columns: dict[str, list[str]] = {}
        self.tb = None
        try:  # optional dependency: CSV only when tensorboard is missing
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.exp_dir / "tensorboard"))
        except Exception:  # noqa: BLE001 - ImportError or broken install
            self.tb = None

    def row(self, name: str, values: dict, step: int) -> None:
        path = self.exp_dir / f"{name}.csv"
        cols = self._columns.get(name)
        if cols is None:
            if path.exists() and path.stat().st_size > 0:
                with open(path, newline="") as f:
                    cols = next(csv.reader(f))
            else:
                cols = list(values)
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerow(cols)
            self._columns[name] = cols
        with open(path, "a", newline="") as f:
            csv.DictWriter(f, cols, extrasaction="ignore").writerow(values)
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(f"{name}/{k}", v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
