"""Small helpers: atomic writes, provenance records, logging."""

from nvk.utils.io import (
    DamagedFileError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_checked,
    read_json,
    set_aside,
)
from nvk.utils.provenance import config_hash, git_state, package_versions, provenance

__all__ = [
    "DamagedFileError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "config_hash",
    "git_state",
    "package_versions",
    "provenance",
    "read_checked",
    "read_json",
    "set_aside",
]
