"""The feed contract as plain data: what every field must be, read off the pydantic models in domain.events.

Adapters that cannot run pydantic on each record (the Spark stream) build their schema and their checks
from these specs, so the replay, the JSON Schema and the stream can never disagree on a rule.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

import annotated_types as at
from pydantic import BaseModel

from readiness_platform.domain.events import EVENT_MODELS

ValueKind = typing.Literal["int", "float", "str", "timestamp", "date"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of a feed record: its type, whether it is required, and its allowed values."""

    name: str
    kind: ValueKind
    required: bool
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    description: str = ""


def _strip_optional(annotation: typing.Any) -> tuple[typing.Any, list[typing.Any]]:
    """(base type, metadata) of an annotation, looking through Optional and Annotated."""
    metadata: list[typing.Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata.extend(extra)
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation, metadata


def _kind_of(base: typing.Any) -> tuple[ValueKind, tuple[str, ...] | None]:
    if typing.get_origin(base) is typing.Literal:
        return "str", tuple(str(a) for a in typing.get_args(base))
    if isinstance(base, type) and issubclass(base, Enum):
        return "str", tuple(str(m.value) for m in base)
    if base is bool:
        raise TypeError("booleans are not used in the feed contract")
    if base is int:
        return "int", None
    if base is float:
        return "float", None
    if base is str:
        return "str", None
    if base is datetime:
        return "timestamp", None
    if base is date:
        return "date", None
    raise TypeError(f"no feed kind for {base!r}")


def field_specs(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The specs of a record's fields, in the model's order (`kind` excluded: it selects the model)."""
    specs = []
    for name, info in model.model_fields.items():
        if name == "kind":
            continue
        base, metadata = _strip_optional(info.annotation)
        kind, choices = _kind_of(base)
        values: dict[str, typing.Any] = {}
        for m in [*metadata, *info.metadata]:
            if isinstance(m, at.Ge):
                values["ge"] = m.ge
            elif isinstance(m, at.Gt):
                values["gt"] = m.gt
            elif isinstance(m, at.Le):
                values["le"] = m.le
            elif isinstance(m, at.MinLen):
                values["min_length"] = m.min_length
            elif isinstance(m, at.MaxLen):
                values["max_length"] = m.max_length
            elif getattr(m, "pattern", None):
                values["pattern"] = m.pattern
        for m in metadata:  # Field(...) inside Annotated (SystemId) carries its own metadata
            for inner in getattr(m, "metadata", []):
                if getattr(inner, "pattern", None):
                    values["pattern"] = inner.pattern
        specs.append(
            FieldSpec(
                name=name,
                kind=kind,
                required=info.is_required(),
                choices=choices,
                description=info.description or "",
                **values,
            )
        )
    return tuple(specs)


def one_of_rules(model: type[BaseModel]) -> tuple[tuple[str, ...], ...]:
    """Groups of fields of which at least one must be present."""
    return tuple(getattr(model, "one_of", ()))


CONTRACT: dict[str, tuple[FieldSpec, ...]] = {kind: field_specs(m) for kind, m in EVENT_MODELS.items()}
