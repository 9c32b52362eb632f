"""Speaker identification building blocks: model loading and
embedding, the enrollment store and the evaluation harness (trial scoring is
:mod:`speechrnn.metrics.trials`, the cosine head :mod:`speechrnn.models.heads`). The user-facing API is
:class:`speechrnn.inference.speakers.SpeakerIdentifier`.

Modules are imported on use (``speechrnn.speakers.store`` etc.) so ``import speechrnn.speakers``
stays light.
"""
