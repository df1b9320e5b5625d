"""Where a search's Optuna study lives: the storage URL checked, the study opened (or resumed)
and held to the problem it was made for."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInputError
from .problem import OBJECTIVES, Problem

if TYPE_CHECKING:
    import optuna

DEFAULT_STORAGE_FILE = "hwbench-optuna.db"
PROBLEM_ATTR = "hwbench.problem"


class StorageError(BadInputError):
    """``storage URL: why``: only the leading parameter name is renamed, never a word of the
    URL or of the database's message (``sqlite:////data/storage/optuna.db``)."""

    def __init__(self, message: str = "", *, param: str | None = "storage", params: tuple[str, ...] = ()) -> None:
        super().__init__(message, param=param, params=params)

    def renamed(self, names: Mapping[str, str]) -> str:
        message = str(self)
        if self.param in names and message.startswith(f"{self.param} "):
            return names[self.param] + message[len(self.param) :]
        return message


def default_storage() -> str:
    return "sqlite:///" + str(Path.cwd() / DEFAULT_STORAGE_FILE)


def _why(storage: str, exc: Exception) -> StorageError:
    from ..tracking.uri import redact_uri

    msg = " ".join(str(exc).split())[:200]
    return StorageError(f"storage {redact_uri(storage)}: {type(exc).__name__}: {msg}")


def check_storage(storage: str) -> None:
    """A malformed URL, an unknown database, a sqlite file in a missing directory: said
    before anything runs (a reachable server is only known when the study opens)."""
    from sqlalchemy.engine import make_url

    from ..tracking.uri import redact_uri

    try:
        url = make_url(storage)
        url.get_dialect()
    except Exception as exc:
        raise _why(storage, exc) from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        parent = Path(url.database).resolve().parent
        if not parent.is_dir():
            raise StorageError(f"storage {redact_uri(storage)}: directory does not exist: {parent}")


def open_study(storage: str, study_name: str, problem: Problem, seed: int | None, sampler: str) -> optuna.Study:
    """The study ``study_name``, created if new; a resumed one must be for the same problem."""
    import optuna

    from ..tracking.uri import redact_uri

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = OBJECTIVES[problem.objective][1]
    for attempt in range(4):
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=study_name,
                direction=direction,
                sampler=optuna.samplers.TPESampler(seed=seed),
                load_if_exists=True,
            )
            break
        except Exception as exc:  # unreachable database, malformed URL
            if type(exc).__name__ == "IntegrityError" and attempt < 3:
                # workers that start together on an empty database race to create Optuna's
                # tables or the study: the loser finds them made a moment later
                time.sleep(0.5 + attempt)
                continue
            raise _why(storage, exc) from None
    held = study.user_attrs.get(PROBLEM_ATTR)
    if held is None:
        study.set_user_attr(PROBLEM_ATTR, problem.signature())
        study.set_user_attr("hwbench.sampler", sampler)
    elif held != problem.signature():
        was, now = json.loads(held), json.loads(problem.signature())
        diff = ", ".join(f"{k} {was.get(k)} ≠ {now.get(k)}" for k in sorted(now) if was.get(k) != now.get(k))
        raise BadInputError(
            f"study '{study_name}' in {redact_uri(storage)} was created for another search ({diff}); "
            "use another study_name",
            param="study_name",
        )
    if study.direction.name.lower() != direction:
        raise BadInputError(
            f"study '{study_name}' {study.direction.name.lower()}s; objective {problem.objective} {direction}s",
            param="objective",
        )
    return study
