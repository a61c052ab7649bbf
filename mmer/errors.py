"""Telling a user's mistake from a bug.

A :class:`UserError` is something the person running mmer can fix (a wrong path, a file that is not
media, a value out of range, weights not fetched yet): the CLI prints its one-line message and exits
2, the service answers it with a 4xx. Anything else is a bug: the CLI shows its traceback and exits 1.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message says what to do."""


class InvalidValue(UserError, ValueError):
    """A value the user gave (an option, a setting, a file's contents) is out of range or malformed.
    Also a ValueError, so library callers that catch that keep working."""
