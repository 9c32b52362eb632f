"""Speaker identification building blocks: the cosine embedding head, scoring, the enrollment
store and the evaluation harness. The user-facing API is
:class:`speechrnn.inference.speakers.SpeakerIdentifier`.

Modules are imported on use (``speechrnn.speakers.store`` etc.) so ``import speechrnn.speakers``
stays light.
"""
