"""How much a peer may make us hold: the documented receive limits (`--max-dataset`).

A hostile or broken peer is the normal case (a P-DATA stream that never ends, a million 1-byte fragments):
every received data set is capped. C-STORE data sets are spooled to a temporary file as they arrive (memory
holds at most `SPOOL_IN_MEMORY` of each), everything else (C-FIND identifiers, responses) is buffered in
memory up to `MAX_BUFFERED_DATASET`. Past a cap the association is aborted and the violation recorded.
"""

from __future__ import annotations

MAX_DATASET_DEFAULT = 1 << 30        # --max-dataset: one received C-STORE data set (spooled to disk), 1 GiB
MAX_BUFFERED_DATASET = 16 << 20      # one data set held in memory (identifiers, responses), 16 MiB
SPOOL_IN_MEMORY = 4 << 20            # a spooled C-STORE data set moves to disk past this size
MAX_DATASET_CEILING = (1 << 32) - 1  # a DICOM data set with defined lengths cannot exceed 2^32 - 1 bytes

_default_max_dataset = MAX_DATASET_DEFAULT


def default_max_dataset() -> int:
    return _default_max_dataset


def set_default_max_dataset(limit: int) -> None:
    """The CLI's --max-dataset for this process (associations and SCPs started afterwards)."""
    global _default_max_dataset
    if not 1 <= limit <= MAX_DATASET_CEILING:
        raise ValueError(f"max dataset {limit} is not in 1..{MAX_DATASET_CEILING}")
    _default_max_dataset = limit
