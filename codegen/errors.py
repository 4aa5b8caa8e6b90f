"""The one error type a user sees: a single line, no traceback, non-zero exit."""


class MlcError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class FitError(MlcError):
    """A model that does not fit a board's flash or RAM (the message gives the numbers)."""
