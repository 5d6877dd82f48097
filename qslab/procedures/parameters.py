"""Declared procedure parameters: type, units, limits and help in one place.

The command line (``--set NAME=VALUE``), recipe files and the GUI's forms all go through
:meth:`Parameter.coerce`, so a bad value gets the same one-line message everywhere, naming the
field and what would be accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qslab.errors import ValidationError

KINDS = ("float", "int", "bool", "str", "floats")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    default: Any
    units: str = ""
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any, field: str | None = None) -> Any:
        """Convert text or a TOML value to this parameter's type and check its range."""
        field = field or f"parameters.{self.name}"
        if self.kind == "floats":
            items = _split(value) if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not items:
                raise ValidationError(field, f"expected a list of numbers, got {value!r}")
            return [self._number(v, field, float) for v in items]
        if self.kind == "float":
            return self._number(value, field, float)
        if self.kind == "int":
            return self._number(value, field, int)
        if self.kind == "bool":
            return _bool(value, field)
        text = str(value)
        if self.choices and text not in self.choices:
            raise ValidationError(field, f"{text!r} is not one of {', '.join(self.choices)}")
        return text

    def _number(self, value: Any, field: str, kind: type) -> float | int:
        unit = f" {self.units}" if self.units else ""
        try:
            if isinstance(value, bool):
                raise ValueError
            number = kind(value) if kind is float else _integer(value)
        except (TypeError, ValueError):
            raise ValidationError(
                field, f"expected {'a number' if kind is float else 'an integer'}, got {value!r}"
            ) from None
        if isinstance(number, float) and not math.isfinite(number):
            raise ValidationError(field, f"expected a finite number, got {value!r}")
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(
                field, f"{number}{unit} is below the minimum {self.minimum}{unit}"
            )
        if self.maximum is not None and number > self.maximum:
            raise ValidationError(
                field, f"{number}{unit} is above the maximum {self.maximum}{unit}"
            )
        return number

    def describe(self) -> str:
        unit = f" [{self.units}]" if self.units else ""
        limits = ""
        if self.minimum is not None or self.maximum is not None:
            limits = f", range {self.minimum if self.minimum is not None else '-inf'}"
            limits += f"..{self.maximum if self.maximum is not None else 'inf'}"
        if self.choices:
            limits = f", one of {'|'.join(self.choices)}"
        return f"{self.name}{unit} = {self.default!r}{limits}: {self.doc}"


def _split(text: str) -> list[str]:
    return [part for part in text.replace(";", ",").replace(" ", ",").split(",") if part]


def _integer(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError
    if isinstance(value, str):
        value = float(value) if "." in value or "e" in value.lower() else value
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    return int(value)


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(field, f"expected true or false, got {value!r}")


def resolve(declared: tuple[Parameter, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``; unknown names are refused with the known ones listed."""
    known = {p.name: p for p in declared}
    for name in given:
        if name not in known:
            # repr() keeps a name with a line break or control character on one line
            raise ValidationError(
                f"parameters.{name if name.isprintable() else repr(name)}",
                f"unknown parameter; this procedure takes {', '.join(known)}",
            )
    return {
        name: p.coerce(given[name]) if name in given else p.default for name, p in known.items()
    }


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["points=20", "spacing=log"]`` from the command line into a dict of raw text."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValidationError("--set", f"expected NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out
