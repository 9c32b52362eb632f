"""Transfer learning: initialise from a checkpoint, re-initialise a mismatched head, freeze."""
from __future__ import annotations

import logging

from ..errors import CheckpointError, ConfigError
from ..models.checkpoint import dequantize_state_dict, read_checkpoint

log = logging.getLogger("speechrnn.train")


def init_from_checkpoint(model, path, labels: dict) -> list[str]:
    """Copy weights from checkpoint ``path`` into ``model`` where names and shapes match.

    The head is copied only when the checkpoint's labels equal ``labels``; otherwise it keeps
    its fresh initialisation. Front-end buffers (global CMVN statistics) are copied too, since
    the encoder was trained on features normalized with them.

    Returns
    -------
    list[str] names of the tensors copied.
    """
    ckpt = read_checkpoint(path)
    src = ckpt["state_dict"]
    if ckpt["weights_format"] == "int8":
        src = dequantize_state_dict(src)
    same_labels = ckpt["labels"] == labels
    own = model.state_dict()
    copied, skipped = [], []
    for name, t in own.items():
        if name.startswith("head.") and not same_labels:
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
             "kept" if same_labels else "re-initialised (labels differ)", len(skipped),
             ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    return copied


def freeze_first_layers(model, k: int) -> None:
    """Freeze the front-end, subsampling and the first ``k`` recurrent layers."""
    layers = model.recurrent_layers()
    if k > len(layers):
        raise ConfigError(f"train.freeze_layers={k} but the encoder has {len(layers)} layers")
    for module in (model.frontend, model.encoder.subsampling, *layers[:k]):
        module.requires_grad_(False)
