"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class EstateError(Exception):
    """A failure the user can act on; its message is shown as one line, without a traceback."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, for one-line errors."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def validation_message(exc) -> str:
    """'key.path: message' of the first error of a pydantic ValidationError."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return f"{loc}: {first['msg']}" if loc else first["msg"]
