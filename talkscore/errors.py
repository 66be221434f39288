"""Exceptions for user errors: each message says what is wrong and what to do."""

from __future__ import annotations


class TalkscoreError(Exception):
    """Base class of talkscore's user-facing errors (the CLI prints them as one line)."""


class DecodeError(TalkscoreError, ValueError):
    """A file that cannot be decoded as a video (or has no usable stream)."""


class BackendUnavailable(TalkscoreError, RuntimeError):
    """An extractor backend whose package or model weights are not available here."""
