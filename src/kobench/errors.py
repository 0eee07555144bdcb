"""User-facing errors: every failure a user can fix is one line naming the file, line or key."""


class KobenchError(Exception):
    """An error caused by input, configuration or environment; the CLI prints it as one line."""


class DataError(KobenchError):
    """A raw or prepared file does not match its expected format."""

    def __init__(self, path: object, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason = path, line, reason


class ConfigError(KobenchError):
    """params.yaml or a command-line option is invalid."""


class DiskFullError(KobenchError):
    """A write ran out of space; what was being written is removed, nothing half-written is left."""

    def __init__(self, path: object, needed: int | None = None) -> None:
        wanted = f" ({needed:,} bytes needed)" if needed is not None else ""
        super().__init__(f"{path}: no space left on the device{wanted}; free space there and run the command again")
        self.path, self.needed = path, needed


class InputError(KobenchError):
    """A prediction input whose column holds a value of the wrong type (a number or null where text belongs)."""

    def __init__(self, column: str, value: object, expected: str = "a string") -> None:
        missing = value is None or (isinstance(value, float) and value != value)  # None, or pandas' NaN
        got = "null" if missing else f"{type(value).__name__} {value!r}"[:80]
        super().__init__(f"column '{column}': expected {expected}, got {got}")
        self.column = column
