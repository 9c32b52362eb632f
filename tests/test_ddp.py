"""DDP: two gloo processes on CPU train a few steps and end with identical weights."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from test_train import TEXTS, make_corpus, tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, exp: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from speechrnn.train import Trainer, resolve_config

    run, resolved = resolve_config(cfg)
    trainer = Trainer(run, exp, resolved=resolved)
    trainer.fit()
    torch.save({k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
               os.path.join(out, f"rank{rank}.pt"))


@pytest.mark.slow  # a whole training run in two processes
def test_two_process_gloo_training_agrees(tmp_path):
    m = make_corpus(tmp_path, TEXTS + ["he read", "ace", "a bed", "hr"])
    cfg = tiny_config(m, m, epochs=1, max_seconds=2.0, device="cpu")
    mp.spawn(_worker, args=(2, _free_port(), cfg, str(tmp_path / "exp"), str(tmp_path)), nprocs=2,
             join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # rank 0 wrote last.pt with both ranks' RNG states and the shared weights
    from speechrnn.models import read_checkpoint

    ck = read_checkpoint(tmp_path / "exp" / "last.pt")
    assert ck["training"]["world_size"] == 2 and len(ck["training"]["rng"]) == 2
    assert ck["training"]["step"] == 2  # 4 batches of 2 s split over 2 ranks
    for k in w0:
        assert torch.equal(ck["state_dict"][k], w0[k]), k
    assert (tmp_path / "exp" / "best.pt").exists()
