"""Transfer learning: initialise from a checkpoint, re-initialise a mismatched head, freeze."""
from __future__ import annotations

import logging

from ..errors import CheckpointError, ConfigError
from ..models.checkpoint import dequantize_state_dict, read_checkpoint
from ..models.ensemble import require_single

log = logging.getLogger("speechrnn.train")


# The output layers of the heads (speechrnn.models.heads: CTCHead.proj, PooledHead.projection):
# one row per label, so they mean nothing under another label set.
OUTPUT_LAYERS = ("head.proj.", "head.projection.")


def checkpoint_lineage(path) -> list[str]:
    """File names of the checkpoints a model trained from ``path`` descends from, nearest first.

    ``[name of path] + path's own extra["init_from"]``: a model fine-tuned from one that was
    itself continued from another lists both. Stored by the Trainer as ``extra["init_from"]``.
    """
    from pathlib import Path

    parents = (read_checkpoint(path).get("extra") or {}).get("init_from") or []
    return [Path(path).name, *[str(p) for p in parents]]


def init_from_checkpoint(model, path, labels: dict) -> list[str]:
    """Copy weights from checkpoint ``path`` into ``model`` where names and shapes match.

    The head's output layer is copied only when the checkpoint's labels equal ``labels``;
    otherwise it keeps its fresh initialisation. The rest of the head (attention pooling, a
    speaker-embedding layer) is copied when the checkpoint's head is of the same kind, so a
    speaker encoder fine-tuned on a new group of speakers keeps its embedding. Front-end buffers (global CMVN statistics) are copied too, since
    the encoder was trained on features normalized with them.

    Returns
    -------
    list[str] names of the tensors copied.
    """
    ckpt = read_checkpoint(path)
    require_single(ckpt, path, "initialising training from a checkpoint")
    src = ckpt["state_dict"]
    if ckpt["weights_format"] == "int8":
        src = dequantize_state_dict(src)
    same_labels = ckpt["labels"] == labels
    same_head = ckpt["model_config"].get("head", {}).get("kind") == model.cfg.head.kind
    own = model.state_dict()
    copied, skipped = [], []
    for name, t in own.items():
        if name.startswith("head.") and not same_labels and (not same_head or name.startswith(OUTPUT_LAYERS)):
            skipped.append(name)
            continue
        if name in src and src[name].shape == t.shape:
            t.copy_(src[name])
            copied.append(name)
        else:
            skipped.append(name)
    if not any(n.startswith("encoder.") for n in copied):
        raise CheckpointError(f"{path}: no encoder weights match this model's configuration")
    log.info("init_from %s: copied %d tensors, head %s, %d left initialised (%s)", path, len(copied),
             "kept" if same_labels else "output layer re-initialised (labels differ)" if same_head
             else "re-initialised (labels and head kind differ)", len(skipped),
             ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    return copied


def freeze_first_layers(model, k: int) -> None:
    """Freeze the front-end, subsampling and the first ``k`` recurrent layers."""
    layers = model.recurrent_layers()
    if k > len(layers):
        raise ConfigError(f"train.freeze_layers={k} but the encoder has {len(layers)} layers")
    for module in (model.frontend, model.encoder.subsampling, *layers[:k]):
        module.requires_grad_(False)
