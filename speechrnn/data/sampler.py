"""Length-bucketed dynamic batching with deterministic shuffling, DDP sharding and resume.

Items are sorted by duration and cut greedily into batches whose *padded* size
``len(batch) * longest item`` stays within ``max_seconds``, so short
utterances form large batches and long ones small batches, with little padding.

Example
-------
>>> s = BucketBatchSampler([1.0, 2.0, 1.1, 3.0, 0.9], max_seconds=3.0, shuffle=False)
>>> list(s)
[[4, 0], [2], [1], [3]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from ..errors import ConfigError

__all__ = ["BucketBatchSampler"]


class BucketBatchSampler(Sampler[list[int]]):
    """Yield lists of dataset indices forming duration-bucketed batches.

    Parameters
    ----------
    durations : sequence of float
        Duration in seconds of every item ``(N,)``.
    max_seconds : float
        Budget per batch: ``len(batch) * max(durations in batch) <= max_seconds``.
        An item longer than ``max_seconds`` on its own gets a batch of its own
        (it is never dropped); their indices are listed in :attr:`oversized`
        so callers can report or filter them.
    max_batch_size : int, optional
        Upper bound on items per batch.
    shuffle : bool
        Shuffle the batch order every epoch (seeded by ``(seed, epoch)``), and
        break ties between equal durations randomly so equal-length corpora
        still get new batch compositions each epoch.
    seed : int
        Base seed; the same ``(seed, epoch)`` always gives the same batches.
    rank, world_size : int
        Distributed sharding: rank ``r`` gets batches ``r, r + W, r + 2W, ...``
        of the epoch's order, so ranks are disjoint; every rank gets the same
        number of batches (the list is padded by repeating its first batches,
        or truncated with ``drop_last``).
    sortagrad : bool
        Epoch 0 runs in ascending length order (SortaGrad), later epochs shuffled.
    drop_last : bool
        With ``world_size > 1``, drop the remainder batches instead of padding.

    Notes
    -----
    ``state_dict()`` records ``(epoch, position)`` where position counts the
    batches yielded by this rank in the current epoch. With a ``DataLoader``
    that prefetches, pass the number of batches your loop actually consumed:
    ``state_dict(batches_consumed=k)``. After ``load_state_dict`` the next
    iteration skips the consumed batches and yields exactly the rest of that
    epoch; ``__len__`` always reports the full epoch's batch count.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        max_batch_size: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        sortagrad: bool = False,
        drop_last: bool = False,
    ):
        self.durations = np.asarray(durations, dtype=np.float64).reshape(-1)  # (N,)
        if self.durations.size and (
            not np.all(np.isfinite(self.durations)) or self.durations.min() < 0
        ):
            bad = int(np.flatnonzero(~np.isfinite(self.durations) | (self.durations < 0))[0])
            raise ConfigError(
                f"durations must be finite and >= 0; item {bad} has {self.durations[bad]}"
            )
        if not max_seconds > 0:
            raise ConfigError(f"max_seconds must be > 0, got {max_seconds}")
        if max_batch_size is not None and max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(
                f"need 0 <= rank < world_size, got rank={rank} world_size={world_size}"
            )
        self.max_seconds = float(max_seconds)
        self.max_batch_size = max_batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.sortagrad = sortagrad
        self.drop_last = drop_last
        self.epoch = 0
        self._position = 0  # batches of this rank already yielded/consumed in self.epoch
        self.oversized: list[int] = np.flatnonzero(self.durations > self.max_seconds).tolist()
        # Batch boundaries depend only on the sorted duration values, so they are
        # the same every epoch; only which equal-length item goes where changes.
        self._bounds = self._cut(np.sort(self.durations, kind="stable"))

    # ------------------------------------------------------------------ #
    def _cut(self, sorted_durs: np.ndarray) -> list[tuple[int, int]]:
        """Greedy ``[start, end)`` ranges over ascending durations within the budget."""
        bounds, start = [], 0
        cap = self.max_batch_size or len(sorted_durs) or 1
        for i, d in enumerate(sorted_durs):
            n = i - start + 1  # batch size if item i joins; d is the batch maximum
            if n > 1 and (n * d > self.max_seconds or n > cap):
                bounds.append((start, i))
                start = i
        if len(sorted_durs):
            bounds.append((start, len(sorted_durs)))
        return bounds

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """All batches of ``epoch`` in order, before sharding."""
        rng = np.random.default_rng([self.seed, epoch])
        ordered = self.shuffle and not (self.sortagrad and epoch == 0)
        tie_break = rng.random(len(self.durations)) if ordered else np.arange(len(self.durations))
        order = np.lexsort((tie_break, self.durations))  # ascending duration, then tie-break
        batches = [order[a:b].tolist() for a, b in self._bounds]
        if ordered:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _num_per_rank(self) -> int:
        n, w = len(self._bounds), self.world_size
        return n // w if self.drop_last else -(-n // w)

    def _rank_batches(self, epoch: int) -> list[list[int]]:
        batches = self._epoch_batches(epoch)
        total = self._num_per_rank() * self.world_size
        if total > len(batches):  # pad by repeating from the start
            batches = batches + [batches[i % len(batches)] for i in range(total - len(batches))]
        return batches[:total][self.rank :: self.world_size]

    # ------------------------------------------------------------------ #
    def __iter__(self) -> Iterator[list[int]]:
        epoch, start = self.epoch, self._position
        batches = self._rank_batches(epoch)
        for k in range(start, len(batches)):
            self._position = k + 1
            yield batches[k]
        if self.epoch == epoch:
            self._position = 0

    def __len__(self) -> int:
        return self._num_per_rank()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its seed); resets the resume position unless resuming that epoch."""
        if epoch != self.epoch:
            self._position = 0
        self.epoch = int(epoch)

    def state_dict(self, batches_consumed: int | None = None) -> dict:
        """Resume point: ``{"epoch", "position", "seed", "num_batches", "num_items"}``.

        ``batches_consumed`` overrides the yielded count (use it with prefetching loaders).
        """
        pos = self._position if batches_consumed is None else int(batches_consumed)
        return {
            "epoch": self.epoch,
            "position": pos,
            "seed": self.seed,
            "num_batches": len(self),
            "num_items": int(len(self.durations)),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`; the next ``__iter__`` skips consumed batches.

        Raises ConfigError if the state was saved for a different dataset or seed.
        """
        for key, mine in (
            ("num_items", len(self.durations)),
            ("seed", self.seed),
            ("num_batches", len(self)),
        ):
            if key in state and state[key] != mine:
                raise ConfigError(
                    f"sampler state has {key}={state[key]} but this sampler has {mine}"
                )
        pos = int(state["position"])
        if not 0 <= pos <= len(self):
            raise ConfigError(f"sampler state position {pos} is outside 0..{len(self)}")
        self.epoch = int(state["epoch"])
        self._position = pos

    def padding_waste(self) -> float:
        """Fraction of padded seconds that are padding, over one epoch's batches (0 = none)."""
        s = np.sort(self.durations, kind="stable")
        padded = sum((b - a) * s[b - 1] for a, b in self._bounds)
        return float(1.0 - s.sum() / padded) if padded > 0 else 0.0
