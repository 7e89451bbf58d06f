"""Reading a local CIFAR-10 python archive safely: the six pickled batches, from a .tar.gz or a folder.

Nothing is downloaded; the path is the user's (CLI) or the host's (never a visitor's). Pickle can
run arbitrary code, so only numpy's array rebuilders are let through, and every way a foreign or
broken file fails reads as one ValueError naming the file.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


class DatasetNotFoundError(FileNotFoundError, ValueError):
    """The data path is missing or holds no CIFAR-10; a ValueError too, so the app's usual handler shows it."""


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays only.

    Pickle can run arbitrary code; CIFAR-10 needs nothing beyond numpy's array rebuilders, so
    anything else is refused. Still read only the user's own local archive: a hosted deployment
    must take data_path from its host configuration, never from a visitor (enforced elsewhere).
    """

    # numpy 1 and 2 spell the rebuilders differently; _codecs.encode is how protocol 2 stores bytes.
    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    })  # fmt: skip

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}; a CIFAR-10 batch holds only arrays and lists")
        return super().find_class(module, name)


# What corrupt or foreign pickles raise (garbage opcodes, truncation, a refused global, a non-dict).
_BAD_PICKLE = (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError, TypeError, ValueError)


def _parse_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels of one pickled batch, or ValueError saying what is wrong."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data, labels = np.array(batch[b"data"]), np.array(batch[b"labels"], dtype=np.int64)  # copies: writable
    except _BAD_PICKLE as err:  # however unpickling fails, it means "not a CIFAR-10 batch"
        raise ValueError(f"{where} is not a CIFAR-10 python batch (a pickled dict with b'data' and b'labels'): {err}") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ValueError(
            f"{where}: expected b'data' uint8 of shape (N, 3072) and N labels, got {data.dtype} {data.shape}, {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels must lie in 0..9")
    # Rows are channel-major (1024 red, 1024 green, 1024 blue; each row-major 32x32), so a plain reshape is C, H, W.
    return data.reshape(-1, 3, 32, 32), labels


def _missing(path: Path, detail: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"data_path: {str(path)!r} {detail}; expected cifar-10-python.tar.gz, its extracted {CIFAR_FOLDER} folder, "
        f"or a folder containing either (files {', '.join(CIFAR_FILES)})"
    )


def _read_cifar_files(path: Path) -> dict[str, bytes]:
    """The six batch files' bytes from a .tar.gz (read in one pass, nothing extracted) or a folder."""
    if not path.exists():
        raise _missing(path, "does not exist")
    if path.is_dir():
        for folder in (path, path / CIFAR_FOLDER):
            if (folder / CIFAR_FILES[0]).is_file():
                found = {n: (folder / n).read_bytes() for n in CIFAR_FILES if (folder / n).is_file()}
                break
        else:
            if (path / "cifar-10-python.tar.gz").is_file():
                return _read_cifar_files(path / "cifar-10-python.tar.gz")
            raise _missing(path, "holds no CIFAR-10 batches")
    else:
        found = {}
        try:
            with tarfile.open(path, "r|*") as archive:  # stream mode: one sequential pass over the gzip
                for member in archive:
                    name = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and name in CIFAR_FILES:
                        found[name] = archive.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise ValueError(
                f"data_path: {str(path)!r} is not a readable tar archive ({err}); expected cifar-10-python.tar.gz"
            ) from None
    missing = [n for n in CIFAR_FILES if n not in found]
    if missing:
        raise ValueError(
            f"data_path: {str(path)!r} lacks {', '.join(missing)}; a CIFAR-10 python archive has {', '.join(CIFAR_FILES)}"
        )
    return found


def read_cifar10(data_path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw uint8 images (N, 3, 32, 32) and int64 labels: data_batch_1..5 (in order) and test_batch."""
    path = Path(data_path).expanduser()
    files = _read_cifar_files(path)
    train = [_parse_batch(files[n], f"{path}: {n}") for n in CIFAR_FILES[:5]]
    x_test, y_test = _parse_batch(files["test_batch"], f"{path}: test_batch")
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test
