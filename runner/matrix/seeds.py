"""Where each seed's matrix lives: `matrices/seeds/<id>-<slug>.yaml` (the
default size, named `seed-<id>`) and `matrices/seeds/full/<id>-<slug>.yaml`
(the write-up's own size, `seed-<id>-full`). Adding a seed is adding those
two files and its claims in matrices/seeds/claims.yaml."""
from __future__ import annotations

import re
from pathlib import Path

from runner import REPO_ROOT
from runner.core.errors import LabError

SEEDS_DIR = REPO_ROOT / "matrices" / "seeds"
SEED_FILE = re.compile(r"(\d{3})-[a-z0-9-]+\.yaml")


def seed_matrices(full: bool = False, folder: Path = SEEDS_DIR) -> dict[str, Path]:
    """{seed id: its matrix file}, in seed order."""
    where = folder / "full" if full else folder
    found = {}
    for path in sorted(where.glob("*.yaml")):
        match = SEED_FILE.fullmatch(path.name)
        if match:
            found[match[1]] = path
    return found


def seed_matrix(seed: str, full: bool = False, folder: Path = SEEDS_DIR) -> Path:
    """The matrix file of one seed ("000" or "0"), or a LabError naming the known seeds."""
    known = seed_matrices(full, folder)
    key = seed.zfill(3) if seed.isdigit() else seed
    if key not in known:
        raise LabError(f"no seed {seed!r}{' (full size)' if full else ''}; known: "
                       f"{', '.join(known) or 'none'} (matrices/seeds/)")
    return known[key]
