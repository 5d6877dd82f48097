"""Checks of one TOML table's keys and values, each failure naming its field.

Station files, their ``[suspenders]`` and ``[[faults]]`` tables all go through these, so a bad
value gets the same kind of one-line message everywhere: ``station.<table>.<key>: ...``.
"""

from __future__ import annotations

from typing import Any

from qslab.errors import ValidationError


def only(table: dict, known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            raise ValidationError(f"{where}.{key}", f"unknown key; known: {', '.join(known)}")


def number(
    table: dict,
    name: str,
    where: str,
    default: float | None,
    positive: bool = True,
    minimum: float | None = None,
    whole: bool = False,
) -> float:
    """``table[name]`` (or ``default``; None: required) as a float, or an int if ``whole``;
    ``positive`` asks for > 0, ``minimum`` for >= that."""
    value = table.get(name, default)
    if value is None:
        raise ValidationError(f"{where}.{name}", "missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{where}.{name}", f"expected a number, got {value!r}")
    if whole and not (isinstance(value, int) or float(value).is_integer()):
        raise ValidationError(f"{where}.{name}", f"expected a whole number, got {value!r}")
    if positive and not value > 0:
        raise ValidationError(f"{where}.{name}", f"must be positive, got {value!r}")
    if minimum is not None and not value >= minimum:
        raise ValidationError(f"{where}.{name}", f"must be {minimum:g} or more, got {value!r}")
    return int(value) if whole else float(value)


def choice(table: dict, name: str, where: str, choices: tuple[str, ...], default: Any) -> Any:
    value = table.get(name, default)
    if value not in choices:
        raise ValidationError(f"{where}.{name}", f"{value!r} is not one of {', '.join(choices)}")
    return value


def flag(table: dict, name: str, where: str, default: bool) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise ValidationError(f"{where}.{name}", f"expected true or false, got {value!r}")
    return value
