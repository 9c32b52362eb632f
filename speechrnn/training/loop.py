"""The one Trainer: every task trains through this loop (see :mod:`speechrnn.train`)."""
from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader

from ..errors import CheckpointError, ConfigError
from ..fileio import write_text
from ..models.checkpoint import (
    average_checkpoints, checkpoint_dict, atomic_torch_save, read_checkpoint,
)
from ..tasks import get_task
from . import distributed as D
from .config import RunConfig
from .logger import RunLogger
from .optim import build_optimizer
from .state import epoch_checkpoints_to_keep, epoch_path, rng_state, seed_everything, set_rng_state
from .transfer import checkpoint_lineage, freeze_first_layers, init_from_checkpoint

log = logging.getLogger("speechrnn.train")


class Trainer:
    """Train a task's model from a :class:`RunConfig` into ``exp_dir``.

    Parameters
    ----------
    cfg : RunConfig
    exp_dir : str or Path
        Receives ``config.yaml``, ``train_log.csv``, ``dev_log.csv``, ``last.pt``,
        ``epoch-N.pt`` (kept: best ``keep_best`` + last ``average_last``), ``best.pt``,
        ``averaged.pt``.
    resume : bool
        Continue exactly from ``exp_dir/last.pt`` when it exists.
    resolved : dict, optional
        Plain config written to ``config.yaml``.

    Example
    -------
    >>> Trainer(cfg, "exp/demo").fit()  # doctest: +SKIP
    """

    def __init__(self, cfg: RunConfig, exp_dir, resume: bool = True, resolved: dict | None = None):
        self.cfg = cfg
        self.tc = cfg.train
        self.exp_dir = Path(exp_dir)
        self.resume = resume
        self.resolved = resolved
        self.task = get_task(cfg.task)

    # ------------------------------------------------------------------ setup
    def _data(self, model):
        from ..data import AudioDataset, read_manifest

        utts = read_manifest(self.cfg.data.train)
        ds = AudioDataset(utts, sample_rate=self.cfg.features.sample_rate)
        durs = ds.durations()
        lo, hi = self.cfg.data.min_duration, self.cfg.data.max_duration
        ok = [i for i, d in enumerate(durs) if d >= lo and (hi is None or d <= hi)]
        if len(ok) < len(utts) and self.dist.is_main:
            log.warning("train: dropping %d utterance(s) outside [%s, %s] s", len(utts) - len(ok), lo, hi)
        sub = [utts[i] for i in ok]
        keep = self.task.prepare(sub, [durs[i] for i in ok], model, "train")
        utts = [sub[i] for i in keep]
        durs = [durs[ok[i]] for i in keep]
        if not utts:
            raise ConfigError(f"{self.cfg.data.train}: no usable training utterances")
        # a file that cannot be read mid-run is logged and replaced by the next readable one:
        # a batch job goes on, and every process keeps the same batch shapes (DDP)
        self.train_ds = AudioDataset(utts, sample_rate=self.cfg.features.sample_rate, on_error="substitute")
        self.train_durs = durs
        self.data_fingerprint = _fingerprint([u.id for u in utts], durs)
        self.dev_ds = None
        if self.cfg.data.dev:
            dev = read_manifest(self.cfg.data.dev)
            self.dev_ds = AudioDataset(dev, sample_rate=self.cfg.features.sample_rate, on_error="substitute")

    def _sampler(self, epoch: int):
        from ..data import BucketBatchSampler

        s = BucketBatchSampler(
            self.train_durs, self.tc.max_seconds, self.tc.max_batch_size, shuffle=self.tc.shuffle,
            seed=self.tc.seed, rank=self.dist.rank, world_size=self.dist.world_size,
            sortagrad=self.tc.sortagrad,
        )
        s.set_epoch(epoch)
        return s

    def _loader(self, ds, batches, seed: int):
        g = torch.Generator()
        g.manual_seed(seed)  # own generator: creating an iterator must not touch the global RNG
        return DataLoader(ds, batch_sampler=batches, collate_fn=self.task.collate,
                          num_workers=self.tc.num_workers, generator=g,
                          persistent_workers=False)

    def _dev_loader(self):
        from ..data import BucketBatchSampler

        s = BucketBatchSampler(self.dev_ds.durations(), self.tc.max_seconds, self.tc.max_batch_size,
                               shuffle=False)
        return self._loader(self.dev_ds, list(s), 0)

    def _global_cmvn(self, model):
        from ..data import BucketBatchSampler
        from ..features import compute_global_cmvn

        n = min(len(self.train_ds), self.tc.cmvn_max_utterances)
        g = torch.Generator().manual_seed(self.tc.seed)
        idx = torch.randperm(len(self.train_ds), generator=g)[:n].tolist()
        durs = [self.train_durs[i] for i in idx]
        batches = [[idx[j] for j in b] for b in BucketBatchSampler(durs, self.tc.max_seconds, shuffle=False)]
        loader = self._loader(self.train_ds, batches, 0)
        mean, std = compute_global_cmvn(model.frontend, ((b["waveforms"], b["lengths"]) for b in loader))
        model.frontend.set_global_cmvn(mean, std)
        log.info("global CMVN from %d training utterances", n)

    def _build(self):
        tc = self.tc
        seed_everything(tc.seed)
        model = self.task.build_model(self.cfg.model, self.cfg.features)
        self._data(model)
        fresh = True
        last = self.exp_dir / "last.pt"
        self.state = None
        self.lineage: list[str] = []   # checkpoints this run descends from (extra["init_from"])
        if self.resume and last.exists():
            ckpt = read_checkpoint(last)
            if "training" not in ckpt:
                raise CheckpointError(f"{last}: has no training state to resume from")
            model.load_state_dict(ckpt["state_dict"])
            self.state = ckpt["training"]
            self.lineage = list((ckpt.get("extra") or {}).get("init_from") or [])
            fresh = False
        elif tc.init_from:
            init_from_checkpoint(model, tc.init_from, self.task.labels())
            self.lineage = checkpoint_lineage(tc.init_from)
        if tc.freeze_layers:
            freeze_first_layers(model, tc.freeze_layers)
        if fresh and self.cfg.features.cmvn == "global" and (not tc.init_from or tc.refit_cmvn):
            if self.dist.is_main:
                self._global_cmvn(model)
            D.broadcast_module_buffers(model, self.dist)
        model.to(self.dist.device)
        self.model = model
        self.batches_per_epoch = len(self._sampler(0))
        steps_per_epoch = math.ceil(self.batches_per_epoch / tc.accum_steps)
        total = steps_per_epoch * tc.epochs
        if tc.max_steps:
            total = min(total, tc.max_steps)
        self.elapsed_before, self.started = 0.0, time.perf_counter()
        self.opt, self.sched = build_optimizer(model, tc, total, self._time_progress)
        self.use_amp = tc.amp and self.dist.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.ddp = model
        if self.dist.enabled:
            ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        # progress counters
        self.epoch, self.batch_in_epoch, self.step = 0, 0, 0
        self.history: list[dict] = []
        self.best, self.bad_epochs, self.skipped = None, 0, 0
        if self.state is not None:
            self._load_training_state(self.state)

    # ------------------------------------------------------------------ time budget
    def _elapsed_s(self) -> float:
        """Training seconds so far, summed over resumed runs."""
        return self.elapsed_before + (time.perf_counter() - self.started)

    def _time_progress(self) -> float:
        if not self.tc.max_minutes:
            return 0.0
        return min(self._elapsed_s() / (60.0 * self.tc.max_minutes), 1.0)

    def _out_of_time(self) -> bool:
        """Whether the budget is spent; agreed across ranks so all stop at the same step."""
        if not self.tc.max_minutes:
            return False
        return not D.all_true(self._time_progress() < 1.0, self.dist)

    # ------------------------------------------------------------------ state
    def _training_state(self) -> dict:
        rngs = D.gather_objects(rng_state(), self.dist)
        return {
            "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "step": self.step,
            "sampler": self._sampler(self.epoch).state_dict(self.batch_in_epoch),
            "data": self.data_fingerprint,
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": rngs, "world_size": self.dist.world_size,
            "history": self.history, "best": self.best, "bad_epochs": self.bad_epochs,
            "skipped": self.skipped, "elapsed_s": self._elapsed_s(),
        }

    def _load_training_state(self, st: dict) -> None:
        if st["world_size"] != self.dist.world_size:
            raise CheckpointError(
                f"last.pt was written by {st['world_size']} process(es), this run has "
                f"{self.dist.world_size}: resume with the same world size or use --no-resume"
            )
        self._check_same_data(st)
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        set_rng_state(st["rng"][self.dist.rank])
        self.epoch, self.batch_in_epoch, self.step = st["epoch"], st["batch_in_epoch"], st["step"]
        self.history, self.best = list(st["history"]), st["best"]
        self.bad_epochs, self.skipped = st["bad_epochs"], st["skipped"]
        self.elapsed_before = float(st.get("elapsed_s", 0.0))
        if self.dist.is_main:
            log.info("resumed from last.pt: epoch %d, batch %d, step %d", self.epoch, self.batch_in_epoch, self.step)

    def _check_same_data(self, st: dict) -> None:
        """Refuse to resume onto other training data, seed or batching: the saved position would
        point into another batch order (the sampler's guarded state, plus a fingerprint of the
        utterances)."""
        fix = ("resume with the same training manifest and train.seed/max_seconds/max_batch_size/"
               "shuffle/sortagrad, or start over with --no-resume")
        if "sampler" in st:  # written since the check exists
            try:
                self._sampler(st["epoch"]).load_state_dict(st["sampler"])
            except ConfigError as e:
                raise ConfigError(f"{self.exp_dir / 'last.pt'} cannot be resumed: {e}; {fix}") from None
        if st.get("data") not in (None, self.data_fingerprint):
            raise ConfigError(f"{self.exp_dir / 'last.pt'} was trained on other utterances than "
                              f"{self.cfg.data.train} holds now (ids or durations changed); {fix}")

    def _ckpt(self, training: dict | None, extra: dict | None = None) -> dict:
        if self.lineage:
            extra = {**(extra or {}), "init_from": list(self.lineage)}
        return checkpoint_dict(self.model, task=self.task.name, labels=self.task.labels(),
                               training=training, extra=extra)

    def save_last(self) -> None:
        """Write ``last.pt`` (weights + full training state); every rank must call."""
        training = self._training_state()  # collective (RNG gather)
        if self.dist.is_main:
            atomic_torch_save(self._ckpt(training, {"epoch": self.epoch, "step": self.step}),
                              self.exp_dir / "last.pt")

    # ------------------------------------------------------------------ steps
    def _autocast(self):
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _micro_step(self, batch: dict, sync: bool) -> tuple[float | None, float]:
        """Forward + backward of one micro-batch; returns (loss or None if skipped, audio s)."""
        dev = self.dist.device
        batch = {k: (v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v)
                 for k, v in batch.items()}
        ctx = self.ddp.no_sync() if (self.dist.enabled and not sync) else contextlib.nullcontext()
        self.task.step = self.step  # step-based schedules in the loss follow a resume
        with ctx:
            with self._autocast():
                out = self.ddp(batch["waveforms"], batch["lengths"])
            loss = self.task.loss(out, batch)
            finite = D.all_true(bool(torch.isfinite(loss)), self.dist)
            audio = float(batch["lengths"].sum()) / self.cfg.features.sample_rate
            if not finite:
                self.skipped += 1
                log.warning("step %d: non-finite loss (%s) in batch %s..., skipped", self.step,
                            float(loss.detach()), batch["ids"][:3])
                return None, audio
            self.scaler.scale(loss / self.tc.accum_steps).backward()
        return float(loss.detach()), audio

    def _optimizer_step(self) -> float:
        self.scaler.unscale_(self.opt)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.tc.grad_clip > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, self.tc.grad_clip))
        else:
            norm = float(torch.norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
        if not math.isfinite(norm) and not self.use_amp:
            log.warning("step %d: non-finite gradient norm, update skipped", self.step)
            self.opt.zero_grad(set_to_none=True)
            self.skipped += 1
        else:
            self.scaler.step(self.opt)
            self.scaler.update()
            self.opt.zero_grad(set_to_none=True)
        self.sched.step()
        self.step += 1
        return norm

    def _train_epoch(self) -> tuple[float, bool]:
        """One (possibly resumed) epoch; returns (mean loss, stopped by max_steps)."""
        tc = self.tc
        batches = list(self._sampler(self.epoch))
        todo = batches[self.batch_in_epoch:]
        loader = self._loader(self.train_ds, todo, tc.seed * 1000 + self.epoch)
        bar = None
        if self.dist.is_main and tc.progress:
            from ..progress import progress_bar  # drawn only when stderr is a terminal

            bar = progress_bar(total=len(batches), initial=self.batch_in_epoch,
                               desc=f"epoch {self.epoch}", leave=False, dynamic_ncols=True)
        self.model.train()
        losses, audio_s, t0 = [], 0.0, time.perf_counter()
        window_loss, norm = [], float("nan")
        for batch in loader:
            i = self.batch_in_epoch
            boundary = (i + 1) % tc.accum_steps == 0 or i + 1 == len(batches)
            loss, audio = self._micro_step(batch, sync=boundary)
            audio_s += audio
            if loss is not None:
                losses.append(loss)
                window_loss.append(loss)
            self.batch_in_epoch += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss if loss is not None else float('nan'):.3f}",
                                xRT=f"{audio_s / max(time.perf_counter() - t0, 1e-9):.0f}")
            if not boundary:
                continue
            norm = self._optimizer_step()
            if self.step % tc.log_every == 0 and self.dist.is_main:
                self.logger.row("train_log", {
                    "step": self.step, "epoch": self.epoch,
                    "loss": sum(window_loss) / max(len(window_loss), 1),
                    "lr": self.sched.get_last_lr()[0], "grad_norm": norm,
                    "audio_sec_per_sec": audio_s / max(time.perf_counter() - t0, 1e-9),
                    "skipped": self.skipped,
                }, self.step)
                window_loss = []
            if tc.save_every_steps and self.step % tc.save_every_steps == 0:
                self.save_last()
            if (tc.max_steps and self.step >= tc.max_steps) or self._out_of_time():
                if bar is not None:
                    bar.close()
                return sum(losses) / max(len(losses), 1), True
        if bar is not None:
            bar.close()
        return sum(losses) / max(len(losses), 1), False

    # ------------------------------------------------------------------ epochs
    def _end_epoch(self, train_loss: float, partial: bool = False) -> bool:
        """Evaluate, write checkpoints, decide early stopping. Returns True to stop.

        ``partial``: the time budget ran out inside the epoch. The model is still evaluated (and
        ``best.pt`` written if it improved), but the epoch is not marked done: ``last.pt`` keeps
        its position, so a continued run trains the rest of it, and no ``epoch-N.pt``, history
        entry or patience count is made for a part of an epoch.
        """
        metrics = {}
        if self.dist.is_main and self.dev_ds is not None:
            metrics = self.task.evaluate(self.model, self._dev_loader(), device=self.dist.device)
        metrics = D.broadcast_object(metrics, self.dist)
        metric = metrics.get(self.task.primary_metric)
        improved = metric is not None and self.task.is_better(metric, self.best)
        if improved:
            self.best = metric
            if not partial:
                self.bad_epochs = 0
        elif metric is not None and not partial:
            self.bad_epochs += 1
        done_epoch = self.epoch
        if not partial:
            self.history.append({"epoch": done_epoch, "metric": metric, "train_loss": train_loss})
        if self.dist.is_main:
            row = {"epoch": done_epoch, "step": self.step, "train_loss": train_loss, **metrics}
            self.logger.row("dev_log", row, self.step)
            log.info("epoch %d%s: train loss %.4f %s", done_epoch,
                     f" (stopped at batch {self.batch_in_epoch})" if partial else "", train_loss,
                     " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            ck = self._ckpt(None, {"epoch": done_epoch, "step": self.step, "metrics": metrics})
            if not partial:
                atomic_torch_save(ck, epoch_path(self.exp_dir, done_epoch))
            if improved:
                atomic_torch_save(ck, self.exp_dir / "best.pt")
            keep = epoch_checkpoints_to_keep(self.history, self.tc.keep_best, self.tc.average_last,
                                             self.task.higher_is_better)
            for h in self.history:
                if h["epoch"] not in keep:
                    epoch_path(self.exp_dir, h["epoch"]).unlink(missing_ok=True)
        if not partial:
            self.epoch += 1
            self.batch_in_epoch = 0
        self.save_last()
        stop = bool(self.tc.patience) and self.bad_epochs >= self.tc.patience
        target = self.tc.stop_at
        if target is not None and metric is not None:
            stop = stop or (metric >= target if self.task.higher_is_better else metric <= target)
        if stop and self.dist.is_main:
            log.info("early stopping: no %s improvement for %d epoch(s)", self.task.primary_metric,
                     self.bad_epochs)
        return stop

    def _average(self) -> None:
        n = self.tc.average_last
        if n <= 1 or not self.dist.is_main:
            return
        paths = [epoch_path(self.exp_dir, h["epoch"]) for h in self.history[-n:]]
        paths = [p for p in paths if p.exists()]
        if len(paths) > 1:
            average_checkpoints(paths, self.exp_dir / "averaged.pt")
            log.info("averaged %d checkpoints into averaged.pt", len(paths))

    def fit(self) -> dict:
        """Run training to the end (epochs, max_steps or early stopping).

        Returns
        -------
        dict with ``best`` (primary metric), ``epochs`` done, ``steps``, ``skipped`` batches.
        """
        if self.tc.threads:
            torch.set_num_threads(self.tc.threads)
        self.dist = D.setup(self.tc.device)
        try:
            if self.dist.is_main:
                self.exp_dir.mkdir(parents=True, exist_ok=True)
                if self.resolved is not None:
                    write_text(self.exp_dir / "config.yaml",
                               yaml.safe_dump(self.resolved, sort_keys=False))
            D.barrier(self.dist)
            self._build()
            self.logger = RunLogger(self.exp_dir) if self.dist.is_main else None
            stopped = False
            while self.epoch < self.tc.epochs and not stopped:
                if self.tc.max_steps and self.step >= self.tc.max_steps:
                    break
                train_loss, hit_max = self._train_epoch()
                if hit_max and not self.tc.max_minutes:
                    self.save_last()
                    break
                partial = hit_max and self.batch_in_epoch < len(self._sampler(self.epoch))
                stopped = self._end_epoch(train_loss, partial) or hit_max
                if hit_max and self.dist.is_main:
                    log.info("stopping: %s reached", "max_steps" if self.tc.max_steps and
                             self.step >= self.tc.max_steps else "max_minutes")
            if self.epoch >= self.tc.epochs or stopped:
                self._average()
            if self.logger is not None:
                self.logger.close()
            D.barrier(self.dist)
            return {"best": self.best, "epochs": self.epoch, "steps": self.step, "skipped": self.skipped}
        finally:
            D.teardown(self.dist)


def _fingerprint(ids, durations) -> str:
    """Short hash of the training utterances (ids and durations to the millisecond)."""
    import hashlib

    h = hashlib.sha1()
    for i, d in zip(ids, durations):
        h.update(f"{i}\t{round(float(d), 3)}\n".encode())
    return h.hexdigest()[:16]
