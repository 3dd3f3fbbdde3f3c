"""The package's one cattrs converter: JSON documents to models and back.

Unknown keys in a reply are ignored (the server may add fields at any time); a missing
optional field takes its default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from types import UnionType
from typing import Any, Generic, TypeVar, Union, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from . import _json
from .errors import UnexpectedResponse, excerpt

__all__ = ["FastDecoder", "converter", "document_excerpt", "parse_datetime", "structure"]

T = TypeVar("T")

converter = cattrs.Converter(
    forbid_extra_keys=False, omit_if_default=False, detailed_validation=False
)


def _is_homogeneous_tuple(tp: Any) -> bool:
    args: tuple[Any, ...] = getattr(tp, "__args__", ())
    return getattr(tp, "__origin__", None) is tuple and len(args) == 2 and args[1] is Ellipsis


def _homogeneous_tuple_hook(tp: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
    # cattrs' generic tuple path re-dispatches on every element; resolving the element's hook
    # once makes decoding a profile's identity and audience lists several times faster.
    element = tp.__args__[0]
    handler = converter.get_structure_hook(element)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        if isinstance(value, (str, bytes, dict)):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple([handler(item, element) for item in value])

    return structure_tuple


converter.register_structure_hook_factory(_is_homogeneous_tuple, _homogeneous_tuple_hook)


def _structure_json_object(value: Any, _: Any) -> dict[str, Any]:
    # A JSON object with values of any type (user attributes, custom attributes) is taken as
    # it is: copying it is enough, there is nothing below it to convert.
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return dict(value)


converter.register_structure_hook_func(lambda tp: tp == dict[str, Any], _structure_json_object)


def _strict_int(value: Any, _: Any = None) -> int:
    # mParticle writes 64-bit ids as JSON strings (they do not fit a double) and sometimes as
    # numbers; both are read. A fraction, a bool or anything else is a reply of the wrong
    # shape, never truncated into another number.
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is str and value.lstrip("-").isascii() and value.lstrip("-").isdigit():
        return int(value)
    if kind is float and value.is_integer() and abs(value) < 2**53:
        # Beyond 2**53 a float no longer holds every integer: one there was rounded on the
        # way (orjson reads an integer beyond 64 bits as a float), so it is not taken.
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}"[:80])


def _strict_float(value: Any, _: Any = None) -> float:
    if type(value) in (int, float):
        return float(value)
    raise ValueError(f"expected a number, got {value!r}"[:80])


def _strict_str(value: Any, _: Any = None) -> str:
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is int:  # an id written as a number: the same id
        return str(value)
    raise ValueError(f"expected a string, got {value!r}"[:80])


def _strict_bool(value: Any, _: Any = None) -> bool:
    # bool("false") is True: only a JSON boolean is a boolean.
    if type(value) is bool:
        return bool(value)
    raise ValueError(f"expected true or false, got {value!r}"[:80])


_STRICT: dict[type, Callable[[Any, Any], Any]] = {
    int: _strict_int,
    float: _strict_float,
    str: _strict_str,
    bool: _strict_bool,
}

# A plain bool or int field would be coerced by cattrs (bool("false") is True, int(1.5) is 1);
# a plain float keeps cattrs' own hook, which generated code calls at no extra cost; plain str
# fields of a model get the hook below.
converter.register_structure_hook(bool, _strict_bool)
converter.register_structure_hook(int, _strict_int)


def _optional_primitive(tp: Any) -> type | None:
    args: tuple[Any, ...] = getattr(tp, "__args__", ())
    if len(args) == 2 and type(None) in args and get_origin(tp) in (Union, UnionType):
        (inner,) = (a for a in args if a is not type(None))
        return inner if inner in _STRICT else None
    return None


def _optional_primitive_hook(tp: Any) -> Callable[[Any, Any], Any]:
    # Same checks as the plain types, without cattrs' per-call Optional dispatch: most
    # fields of a reply are `str | None` or `int | None`.
    inner = _optional_primitive(tp)
    assert inner is not None
    read = _STRICT[inner]

    def structure_optional(value: Any, _: Any) -> Any:
        if value is None or type(value) is inner:  # the common case, at no cost
            return value
        return read(value, inner)

    return structure_optional


converter.register_structure_hook_factory(
    lambda tp: _optional_primitive(tp) is not None, _optional_primitive_hook
)


def _plain_str_fields(tp: Any) -> dict[str, Any]:
    """The fields of an attrs class typed plain ``str``, each with its default (or NOTHING)."""
    if not (isinstance(tp, type) and attrs.has(tp)):
        return {}
    attrs.resolve_types(tp)
    return {f.name: f.default for f in attrs.fields(tp) if f.type is str}


def _str_or(default: Any) -> Callable[[Any, Any], str]:
    # Only a plain string default stands in for a null (a factory or a None default on a
    # field typed ``str`` is not one: the null is refused there, as for a required field).
    fallback = default if isinstance(default, str) else None

    def structure_str(value: Any, _: Any) -> str:
        if type(value) is str:
            return value
        if value is None and fallback is not None:
            return fallback
        return _strict_str(value)

    return structure_str


def _plain_str_hook(tp: Any) -> Callable[[Any, Any], Any]:
    # cattrs would read a plain ``str`` field with str(value): a JSON null became the text
    # "None" and an object its repr. A null takes the field's default where it has one (a
    # description, an identity's encoding); anything else but a string or a number is a
    # reply of the wrong shape.
    fields = _plain_str_fields(tp)
    overrides: dict[str, Any] = {
        name: override(struct_hook=_str_or(default)) for name, default in fields.items()
    }
    return make_dict_structure_fn(tp, converter, **overrides)


converter.register_structure_hook_factory(lambda tp: bool(_plain_str_fields(tp)), _plain_str_hook)

# ISO 8601 as mParticle's APIs write it: "2014-11-14T22:46:38.673" (no zone, meaning UTC),
# "...Z", "...-04:00", and from 0 to 7 fractional digits, which datetime.fromisoformat
# only accepts from Python 3.11 on.
_ISO_8601 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_datetime(value: object) -> datetime:
    """An aware datetime from an ISO 8601 string; one without a zone is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and (match := _ISO_8601.fullmatch(value.strip())):
        date, clock, fraction, zone = match.groups()
        if len(clock) == 5:
            clock += ":00"
        micro = (fraction or "")[:6].ljust(6, "0")
        if zone is None or zone in ("Z", "z"):
            offset = "+00:00"
        else:
            digits = zone[1:].replace(":", "").ljust(4, "0")
            offset = f"{zone[0]}{digits[:2]}:{digits[2:]}"
        parsed = datetime.fromisoformat(f"{date}T{clock}.{micro}{offset}")
    else:
        raise ValueError(f"not an ISO 8601 date and time: {value!r}"[:120])
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


converter.register_structure_hook(datetime, lambda value, _: parse_datetime(value))
converter.register_unstructure_hook(datetime, datetime.isoformat)


def document_excerpt(document: Any) -> str:
    """The start of a decoded JSON document, as text short enough for an error."""
    try:
        return excerpt(_json.dumps(document))
    except (TypeError, ValueError, RecursionError):  # too deep to write back: say what it is
        return f"(a JSON {type(document).__name__})"


def structure(document: Any, cls: type[T], *, method: str = "", path: str = "") -> T:
    """Decode ``document`` into ``cls``; a reply of the wrong shape raises UnexpectedResponse."""
    try:
        return converter.structure(document, cls)
    except (
        cattrs.BaseValidationError,
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise UnexpectedResponse(
            f"{method} {path}: the reply does not have the shape of a {cls.__name__} ({exc})"[:400],
            status=200,
            method=method,
            path=path,
            body_excerpt=document_excerpt(document),
        ) from None


class FastDecoder(Generic[T]):
    """JSON bytes straight into ``cls`` with msgspec (the ``speedups`` extra), for the replies
    a fan-out reads millions of: about a third of the CPU of ``orjson.loads`` and cattrs.

    msgspec is strict where this module's converter is lenient (an id written as a string, a
    float that is a whole number): ``decode`` returns None for whatever it does not take as it
    is, and the caller decodes it the usual way, which reads those forms or says what is wrong.
    So for any document msgspec accepts, the result is the one ``structure`` gives on the
    standard library's reading of it (a property test holds both to that); orjson's reading
    differs from both only at its own limits: an integer beyond 64 bits (orjson reads a float,
    which an int field then refuses) and a number too large for a float (orjson refuses the
    document; msgspec and ``json`` accept it where it is ignored).

    Only for models whose fields are plain JSON types, optionals, lists of such models and
    ``dict[str, Any]``. Built on first use (importing msgspec costs about 15 ms); never with
    ``MP_ASYNC_JSON=stdlib`` or without msgspec.
    """

    def __init__(self, cls: type[T]) -> None:
        self.cls = cls
        self._decode: Callable[[bytes], T] | None = None
        self._errors: tuple[type[Exception], ...] = ()
        self._ready = False

    def decode(self, body: bytes) -> T | None:
        if not self._ready:
            self._build()
        if self._decode is None:
            return None
        try:
            return self._decode(body)
        except self._errors:
            return None

    def _build(self) -> None:
        self._ready = True
        if os.environ.get("MP_ASYNC_JSON") == "stdlib":
            return
        try:
            import msgspec
        except ImportError:
            return
        self._decode = msgspec.json.Decoder(self.cls).decode
        # msgspec's DecodeError and ValidationError are ValueErrors, and so is the
        # UnicodeDecodeError of a body that is not UTF-8; RecursionError: a document nested
        # deeper than msgspec goes (the converter's path refuses it too).
        self._errors = (ValueError, RecursionError)
