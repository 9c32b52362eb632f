"""Tasks plug into the one trainer: head kind, targets, loss, decoding and metrics.

Tasks are found by name; a module is imported only when its task is used, so a new task
(``speechrnn/tasks/<module>.py`` defining a :class:`~speechrnn.tasks.base.Task` subclass) is
added by listing it in ``_REGISTRY`` or calling :func:`register_task`.

Example
-------
>>> task = get_task({"name": "transcription"})
>>> task.primary_metric, task.num_outputs()
('wer', 29)
"""
from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Task, TaskConfig

_REGISTRY: dict[str, str] = {
    "transcription": "speechrnn.tasks.transcription:TranscriptionTask",
    "keywords": "speechrnn.tasks.keywords:KeywordTask",
    "speakers": "speechrnn.tasks.speakers:SpeakerTask",
    "speakers_distill": "speechrnn.tasks.speaker_distill:SpeakerDistillTask",
}


def register_task(name: str, target: str | type) -> None:
    """Register ``target`` (a Task subclass or ``"module:Class"``) under ``name``."""
    _REGISTRY[name] = target


def task_class(name: str) -> type[Task]:
    """The Task subclass registered as ``name``."""
    target = _REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"task.name: unknown task {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    if isinstance(target, str):
        module, cls = target.split(":")
        try:
            target = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"task.name: task {name!r} is not available ({e})") from None
    return target


def get_task(section: dict | str) -> Task:
    """Build a task from the run config's ``task`` section (a dict with ``name``, or a name)."""
    if isinstance(section, str):
        section = {"name": section}
    if not isinstance(section, dict) or "name" not in section:
        raise ConfigError("task: expected a mapping with a 'name' key, e.g. {name: transcription}")
    return task_class(section["name"]).from_section(section)


__all__ = ["Task", "TaskConfig", "get_task", "register_task", "task_class"]
