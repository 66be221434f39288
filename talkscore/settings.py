"""The one style of talkscore's options dataclasses (`@dataclass(frozen=True)` subclasses of
`Settings`): a comment per field, `validate()` raising ValueError that names the field to fix,
run on construction, and a JSON form that refuses unknown keys."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

S = TypeVar("S", bound="Settings")


class Settings:
    """Base of the frozen options dataclasses; subclasses override `validate`."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the field to fix (nothing to check by default)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any]) -> S:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**data)
