"""Errors meant for the operator: one clear line, no traceback."""


class UserError(Exception):
    """Something the user can fix (bad input, a missing tool, a busy port); shown as one line."""
