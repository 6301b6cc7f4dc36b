"""Read the numpy-array pickles of public datasets (traj_data.pkl) without running code from the file.

A pickle is a program. Dataset pickles only need numpy's array/scalar reconstruction and plain
containers, so every other global the file names is refused before anything runs.
"""
from __future__ import annotations

import builtins
import codecs
import pickle
from typing import Any, BinaryIO

import numpy as np

try:  # numpy >= 2 moved numpy.core to numpy._core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 pickles bytes
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _package in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_package}.multiarray", "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(f"{_package}.multiarray", "scalar")] = _multiarray.scalar
    _ALLOWED[(f"{_package}.numeric", "_frombuffer")] = _numeric._frombuffer  # type: ignore[attr-defined]
_BUILTINS = frozenset({"dict", "list", "tuple", "set", "frozenset", "int", "float", "bool", "str", "bytes",
                       "bytearray", "complex", "slice"})


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "builtins" and name in _BUILTINS:
            return getattr(builtins, name)
        raise UnsafePickleError(f"refers to '{module}.{name}', which a data pickle may not use (a pickle can run code)")


def load_array_pickle(file: BinaryIO) -> Any:
    return _ArrayUnpickler(file).load()
