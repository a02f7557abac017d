"""Alerts built from parts already validated and serialised without pydantic: the correlator's hot path.

Instruction counts (callgrind, 500 alerts of domain matches, per alert): ``model_dump_json`` 190,000 (half of
it the nine datetimes, each through ``UtcDatetime``'s Python serializer); ``alert_json`` 80,000 (a dict made
by code generated per model class, orjson, and each distinct datetime formatted once per batch rather than once
per field); ``Alert(**fields)`` 90,000, ``trusted`` 67,000. The whole correlate stage spends about 1.2 million
per alert, so serialisation was its largest single cost.

``alert_json`` writes the very bytes of ``model_dump_json``: fields in declared order, nested models by their
declared class (a ``SourceRemediation`` in ``remediations`` is written as a ``Remediation``, as pydantic
does), datetimes as ``UtcDatetime`` writes them (in UTC, ``Z``); ``tests/unit/test_alert_fast.py`` compares
both on alerts of every kind and on hostile text. Text orjson cannot encode (a lone surrogate) raises
``TypeError`` (pydantic raised ``ValueError``): the caller quarantines either.

``trusted`` is only for values taken from validated models (the indicator, the asset, the match) or computed
from them, never for input from outside. The fields go into the instance in declared order with the defaults
filled in: pydantic writes JSON in that order too.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from pydantic import AwareDatetime, BaseModel
from pydantic_core import PydanticUndefined

M = TypeVar("M", bound=BaseModel)

_MISSING = object()


class _Plan:
    """Per model class: every field in declared order with its default, the factories, the required fields."""

    __slots__ = ("factories", "factory_names", "names", "required", "template")

    def __init__(self, cls: type[BaseModel]) -> None:
        self.template: dict[str, Any] = {}
        self.factories: list[tuple[str, Callable[[], Any]]] = []
        required: set[str] = set()
        for name, info in cls.model_fields.items():
            self.template[name] = None if info.default is PydanticUndefined else info.default
            if info.default_factory is not None:
                self.factories.append((name, info.default_factory))  # type: ignore[arg-type]
            elif info.default is PydanticUndefined:
                required.add(name)
        self.required = frozenset(required)
        self.names = frozenset(self.template)
        self.factory_names = frozenset(name for name, _ in self.factories)


_PLANS: dict[type[BaseModel], _Plan] = {}


def trusted(cls: type[M], **fields: Any) -> M:
    """An instance of ``cls`` from values already valid, unvalidated (see the module docstring).

    Fields left out take their defaults; a required field left out, or an unknown one, raises ``TypeError``.
    """
    plan = _PLANS.get(cls)
    if plan is None:
        _PLANS[cls] = plan = _Plan(cls)
    values = plan.template.copy()
    values.update(fields)  # a key already present keeps its place: the declared order
    # an unknown field makes the dict grow: one length test instead of checking every name
    if len(values) != len(plan.template) or not plan.required <= fields.keys():
        missing, unknown = plan.required - fields.keys(), fields.keys() - plan.names
        raise TypeError(f"{cls.__name__}: required {sorted(missing)} missing, unknown {sorted(unknown)}")
    if not plan.factory_names <= fields.keys():  # one test when every list is given, as the engine does
        for name, factory in plan.factories:
            if name not in fields:
                values[name] = factory()
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(fields))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def replaced(model: M, **changes: Any) -> M:
    """``model.model_copy(update=changes)`` for fields of ``model`` only, without its generic copying (a fifth of
    storing a new alert's first revision, cProfile, stage bench); an unknown field raises ``TypeError``."""
    values = model.__dict__
    if not changes.keys() <= values.keys():
        raise TypeError(f"{type(model).__name__}: unknown {sorted(changes.keys() - values.keys())}")
    values = values.copy()
    values.update(changes)  # every key already present: the declared order stays
    copy = type(model).__new__(type(model))
    object.__setattr__(copy, "__dict__", values)
    object.__setattr__(copy, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys())
    object.__setattr__(copy, "__pydantic_extra__", None)
    object.__setattr__(copy, "__pydantic_private__", None)
    return copy


# --- serialising -----------------------------------------------------------------------------------------------

_ISO: dict[datetime, str] = {}
_ISO_KEPT = 4096  # the few distinct moments of a batch (now, the indicators' times); cleared when full


def _iso(value: datetime) -> str:
    # the text of models.common.UtcDatetime's serializer; equal instants give equal text whatever their offset
    text = _ISO.get(value)
    if text is None:
        if len(_ISO) >= _ISO_KEPT:
            _ISO.clear()
        text = _ISO[value] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds (``X``, ``X | None``, ``list[X]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


def _holds_datetime(annotation: Any) -> bool:
    if annotation in (datetime, AwareDatetime):
        return True
    return any(_holds_datetime(arg) for arg in typing.get_args(annotation))


Encode = Callable[[Any], dict[str, Any]]
_ENCODERS: dict[type[BaseModel], Encode] = {}


def _encoder(cls: type[BaseModel]) -> Encode:
    """A function writing a ``cls`` as a dict of JSON-ready values, generated once per class.

    Generated source rather than a loop over the fields: the loop cost more than pydantic's own dump. Enums
    stay enums (orjson writes their value).
    """
    found = _ENCODERS.get(cls)
    if found is not None:
        return found
    scope: dict[str, Any] = {"_iso": _iso}
    items: list[str] = []
    for n, (name, info) in enumerate(cls.model_fields.items()):
        nested, value = _model_in(info.annotation), f"d[{name!r}]"
        if nested is not None:
            scope[f"e{n}"] = _encoder(nested)
            if _is_list(info.annotation):
                items.append(f"{name!r}: [e{n}(v) for v in {value}]")
            else:
                items.append(f"{name!r}: None if {value} is None else e{n}({value})")
        elif _holds_datetime(info.annotation):
            items.append(f"{name!r}: None if {value} is None else _iso({value})")
        else:
            items.append(f"{name!r}: {value}")
    source = "def encode(m):\n    d = m.__dict__\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, f"<alert_fast {cls.__name__}>", "exec"), scope)  # noqa: S102
    encode: Encode = scope["encode"]
    _ENCODERS[cls] = encode
    return encode


def alert_json(model: BaseModel) -> bytes:
    """The bytes ``model.model_dump_json()`` gives (see the module docstring); ``TypeError`` on a lone surrogate."""
    return orjson.dumps(_encoder(type(model))(model))
