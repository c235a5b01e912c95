"""Atomic writes: a record is either the old file or the complete new one, never half."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _read_umask() -> int:  # once, at import: os.umask can only be read by setting it
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; records are for everyone to read
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """JSON-encode `obj` (sorted keys, non-JSON values via `str`) and write it atomically."""
    return atomic_write_text(
        path, json.dumps(obj, indent=indent, sort_keys=True, default=str) + "\n"
    )


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# Reading back what the project wrote: a damaged file is named, set aside and recomputed.

log = logging.getLogger("nvk")

DAMAGED = ".damaged"  # set-aside files are named <name>.damaged-<UTC time>[-k]


class DamagedFileError(ValueError):
    """A file the project wrote earlier does not parse or does not hold what it should."""


def set_aside(path: str | os.PathLike, reason: str, then: str = "it will be recomputed") -> Path:
    """Move a damaged `path` to `<name>.damaged-<UTC time>` in the same folder (never delete:
    the bytes may still matter to someone), log a warning naming both paths, return the new
    path; `then` says what happens next. Readers never pick such names up, so the
    cell/block/record is recomputed."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = path.with_name(f"{path.name}{DAMAGED}-{stamp}")
    k = 1
    while dest.exists():
        dest, k = path.with_name(f"{path.name}{DAMAGED}-{stamp}-{k}"), k + 1
    try:
        os.replace(path, dest)
    except FileNotFoundError:  # another job sharing the folder set it aside first
        log.warning("damaged file %s (%s): already moved aside by another job", path, reason)
        return dest
    log.warning("damaged file %s (%s): moved aside to %s; %s", path, reason, dest.name, then)
    return dest


def read_checked(
    path: str | os.PathLike,
    load: Callable[[Path], T] = read_json,  # type: ignore[assignment]
    check: Callable[[T], object] | None = None,
    *,
    keep: bool = False,
) -> T | None:
    """`load(path)`, validated by `check(value)` (which raises on a wrong content); None when
    the file does not exist or is damaged. A damaged file is set aside (see `set_aside`) so
    the caller recomputes it; with `keep=True` (readers that cannot recompute, e.g. a table
    built from a sweep's records) it stays where it is and a warning names it.

    A file that cannot be opened for other reasons (permissions) raises as usual: that is the
    user's to fix, not a damaged file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        value = load(path)
        if check is not None:
            check(value)
    except FileNotFoundError:
        if not path.exists():  # removed or set aside by another job meanwhile: absent
            return None
        raise
    except (PermissionError, IsADirectoryError):
        raise
    except Exception as e:  # a parse error of any reader (JSON, torch zip, numpy header, ...)
        reason = f"{type(e).__name__}: {e}"
        if keep:
            log.warning("damaged file %s (%s): skipped here; the job that wrote it sets it "
                        "aside and recomputes it when rerun", path, reason)  # fmt: skip
        else:
            set_aside(path, reason)
        return None
    return value


def check_archive(path: str | os.PathLike) -> None:
    """DamagedFileError unless `path` is a complete zip archive whose members all match their
    CRC-32 (`torch.save` and Lightning checkpoints are such archives). Reads the file once and
    unpickles nothing, so a truncated file or a flipped bit is caught before anything loads."""
    import struct
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, EOFError, struct.error, zlib.error, ValueError) as e:
        raise DamagedFileError(f"not a complete archive ({type(e).__name__}: {e})") from e
    if bad is not None:
        raise DamagedFileError(f"checksum mismatch in member {bad!r}")


def load_torch_checked(path: str | os.PathLike) -> Any:
    """`torch.load` (CPU, tensors only) of a `check_archive`-verified file."""
    import torch

    check_archive(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def require_keys(obj: Any, keys: tuple[str, ...] = (), what: str = "record") -> None:
    """DamagedFileError unless `obj` is a dict holding every key in `keys`."""
    if not isinstance(obj, dict):
        raise DamagedFileError(f"{what} is a {type(obj).__name__}, not a JSON object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DamagedFileError(f"{what} lacks {missing}")
