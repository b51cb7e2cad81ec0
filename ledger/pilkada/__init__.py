"""The Pilkada 2024 reference data, with the scenario, simulator and demo built on it.

The reference data (``reference``) is re-exported here: ``from ledger import
pilkada; pilkada.load()``.
"""

from ledger.pilkada.reference import (
    BLORA,
    DATA_FILES,
    MAX_REGISTERED,
    RUTAN_BLORA_TPS,
    ContestInfo,
    KecamatanResult,
    PairInfo,
    Pilkada,
    contest_tallies,
    contests_in,
    data_file,
    kecamatan_of_region,
    load,
    split_tallies,
    tps_layout,
    villages_of,
)

__all__ = [
    "BLORA",
    "DATA_FILES",
    "MAX_REGISTERED",
    "RUTAN_BLORA_TPS",
    "ContestInfo",
    "KecamatanResult",
    "PairInfo",
    "Pilkada",
    "contest_tallies",
    "contests_in",
    "data_file",
    "kecamatan_of_region",
    "load",
    "split_tallies",
    "tps_layout",
    "villages_of",
]
