"""HanBERT's morpheme analyser: the vendor's compiled ``libmoran4dnlp.so``, loaded from a local directory by ctypes.

The vendor archive (HanBert-54kN-torch) ships the analyser as a Linux x86-64 shared library with its dictionary
``moran.db`` and the user dictionaries ``udict.txt`` and ``uentity.txt``. It is used as the vendor's own Python
code uses it: ``MorAn16_open_dbs()`` once, then ``Moran4dnlp(input, output, 102400)`` per text, which returns the
text's morphemes separated by spaces (a morpheme continuing an eojeol prefixed with ``~~`` or ``~``), and
``MorAn_close_dbs()`` at exit. The library is only ever read from the directory given; nothing is fetched.

Every way this can fail before the first analysis is one line: directory, library or dictionary missing, a
platform other than Linux x86-64, a file that does not load (wrong architecture, not a shared object) or lacks
one of the four functions, and a dictionary the library cannot open (a probe sentence then analyses to nothing).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import platform
import threading
from pathlib import Path
from typing import Any

from kobench.errors import KobenchError
from kobench.hashing import sha256_file

log = logging.getLogger(__name__)
LIBRARY = "libmoran4dnlp.so"
DICTIONARY = "moran.db"
USER_DICTIONARIES = ("udict.txt", "uentity.txt")
SYMBOLS = ("MorAn16_open_dbs", "Moran4dnlp", "Moran4match", "MorAn_close_dbs")
BUFFER_BYTES = 102400  # the size the vendor's code passes for its input and output buffers
CHUNK_BYTES = 24000  # an input longer than this is analysed in pieces cut at spaces: marks make output longer
PROBE = "나는 학교에 간다."
_MEMO_LIMIT = 200_000  # analyses kept per process (KorQuAD repeats each context for every question)
_LOAD_LOCK = threading.Lock()
_OPEN: dict[Path, MoranAnalyser] = {}


class AnalyserError(KobenchError):
    """The vendor analyser cannot be used from this directory on this machine."""


def check_platform() -> None:
    """The vendor library is built for Linux on x86-64 only.

    Raises:
        AnalyserError: any other system or processor.
    """
    system, machine = platform.system(), platform.machine().lower()
    if system != "Linux" or machine not in ("x86_64", "amd64"):
        raise AnalyserError(
            f"the vendor analyser {LIBRARY} is a Linux x86-64 library and cannot run on {system} {machine}; "
            f"use a Linux x86-64 machine (or container) for HanBERT"
        )


def analyser_files(directory: Path) -> list[Path]:
    """The files that decide the analyser's output: the library, its dictionary and the user dictionaries present."""
    files = [directory / LIBRARY, directory / DICTIONARY]
    return files + [directory / name for name in USER_DICTIONARIES if (directory / name).exists()]


def open_analyser(directory: Path) -> MoranAnalyser:
    """The analyser of ``directory``, loaded once per process.

    Raises:
        AnalyserError: one line saying what is missing or does not load.
    """
    directory = Path(directory)
    with _LOAD_LOCK:
        key = directory.resolve()
        if key not in _OPEN:
            _OPEN[key] = MoranAnalyser(directory)
        return _OPEN[key]


class MoranAnalyser:
    """The vendor analyser of one directory: ``analyse(text)`` -> morphemes with their ``~~`` / ``~`` marks."""

    def __init__(self, directory: Path) -> None:
        check_platform()
        if not directory.is_dir():
            raise AnalyserError(f"{directory}: directory not found (the unpacked HanBert-54kN-torch archive)")
        library, dictionary = directory / LIBRARY, directory / DICTIONARY
        if not library.is_file():
            raise AnalyserError(f"{library}: not found; the vendor archive HanBert-54kN-torch ships it beside config.json")
        if not dictionary.is_file():
            raise AnalyserError(f"{dictionary}: not found; the analyser {LIBRARY} needs its dictionary beside it")
        self.directory = directory
        self.digests = {path.name: sha256_file(path) for path in analyser_files(directory)}
        self._lib = _load_library(library)
        self._lock = threading.Lock()
        self._output = ctypes.create_string_buffer(BUFFER_BYTES)
        self._input = ctypes.create_string_buffer(BUFFER_BYTES)
        self._memo: dict[str, tuple[str, ...]] = {}
        _open_dictionary(self._lib, directory)
        atexit.register(self._lib.MorAn_close_dbs)
        if not self._run(PROBE):
            raise AnalyserError(
                f"{library}: the analyser returned nothing for a test sentence: it could not open its dictionary "
                f"{dictionary} (damaged, or not the one of this library)"
            )
        log.info("loaded the vendor's native analyser %s (sha256 %s)", library, self.digests[LIBRARY][:12])

    def analyse(self, text: str) -> tuple[str, ...]:
        """The morphemes of ``text`` as the library writes them (``나``, ``~~는``, ``.``)."""
        found = self._memo.get(text)
        if found is None:
            found = tuple(" ".join(self._run(chunk) for chunk in _chunks(text)).split())
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[text] = found
        return found

    def _run(self, text: str) -> str:
        with self._lock:  # ctypes releases the GIL, and the library keeps state between calls
            self._input.value = text.encode("utf-8")
            result = self._lib.Moran4dnlp(self._input, self._output, BUFFER_BYTES)
        return (result or b"").decode("utf-8", errors="replace")


def _load_library(library: Path) -> Any:
    """``ctypes.CDLL`` of ``library`` with the vendor's signatures set.

    Raises:
        AnalyserError: it does not load (wrong architecture, not a shared object) or lacks a function.
    """
    problem = _elf_problem(library)
    if problem:  # said here: the loader reports another machine's library as "No such file or directory"
        raise AnalyserError(f"{library}: cannot load the vendor analyser: {problem}")
    try:
        lib = ctypes.CDLL(str(library.resolve()))
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnalyserError(f"{library}: cannot load the vendor analyser ({reason[:200]})") from None
    for name in SYMBOLS:
        if not hasattr(lib, name):
            raise AnalyserError(f"{library}: no function {name}: not the vendor's analyser {LIBRARY}")
    lib.Moran4dnlp.restype = ctypes.c_char_p
    lib.Moran4dnlp.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.Moran4match.restype = ctypes.c_char_p
    lib.Moran4match.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.MorAn16_open_dbs.restype = None  # its result is not relied on: the probe sentence tells
    lib.MorAn_close_dbs.restype = None
    return lib


_MACHINES = {3: "x86 (32-bit)", 8: "MIPS", 20: "PowerPC", 21: "PowerPC 64", 40: "ARM", 62: "x86-64", 183: "AArch64",
             243: "RISC-V"}  # fmt: skip


def _elf_problem(library: Path) -> str | None:
    """Why ``library`` is not an x86-64 ELF shared object, from its header; None when it is one.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as handle:
    ...     _ = handle.write(b"not a library"), handle.flush()
    ...     _elf_problem(Path(handle.name))
    'not a shared object (no ELF header)'
    """
    with open(library, "rb") as handle:
        head = handle.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return "not a shared object (no ELF header)"
    if head[4] != 2:
        return "a 32-bit ELF file, not x86-64"
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    if machine != 62:
        return f"built for {_MACHINES.get(machine, f'ELF machine {machine}')}, not x86-64"
    return None


def _open_dictionary(lib: Any, directory: Path) -> None:
    """``MorAn16_open_dbs()`` with the model directory as working directory, wherever the library looks for it."""
    previous = os.getcwd()
    os.chdir(directory)
    try:
        lib.MorAn16_open_dbs()
    finally:
        os.chdir(previous)


def _chunks(text: str) -> list[str]:
    """``text`` cut at spaces into pieces the library's buffers hold (one piece when short).

    >>> _chunks("가 나")
    ['가 나']
    >>> [len(c) for c in _chunks("가" * 5000 + " " + "나" * 5000)]
    [5000, 5000]
    """
    if len(text.encode("utf-8")) <= CHUNK_BYTES:
        return [text]
    pieces, current, size = [], [], 0
    for word in text.split():
        length = len(word.encode("utf-8")) + 1
        if current and size + length > CHUNK_BYTES:
            pieces.append(" ".join(current))
            current, size = [], 0
        current.append(word[: CHUNK_BYTES // 4])  # one 'word' longer than a buffer is cut, not sent whole
        size += length
    if current:
        pieces.append(" ".join(current))
    return pieces
