"""Which batch size to measure next: a planner that uses what is known about the problem.

Peak memory grows with the batch size, so the feasible batch sizes are a prefix
``1..upper``; throughput usually rises, then saturates or falls. The planner therefore

1. **expands**: 1, 2, 4, ... while the largest feasible batch is the best so far, and
   ``patience`` doublings past the best (a plateau or a dip is not taken at its word);
   a batch size that does not fit (or fails) bounds every larger one;
2. **refines**: bisects, in log space, the gaps on either side of the best batch size
   (the gap up to the first batch that did not fit included), until neighbours are
   within ``resolution`` (1.25 = batch sizes 25 % apart are not told apart: the
   measurement noise is larger than what lies between them);
3. **confirms**: re-measures the ``confirm_top`` best points until each has ``repeats``
   measurements, and ranks every point by the median of its measurements, so that one
   lucky run on a noisy machine does not decide the answer (the winner's curse).

It is stateless: proposals are computed from the trials the Optuna study holds, so a
resumed study, or a second worker on the same study, carries on from the same facts.
Pure Python, standard library only: unit-testable without running anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Observation:
    """One trial as the planner sees it."""

    config: str  # the non-batch part of the configuration (hardware/backend/device/precision)
    batch: int
    state: str  # done | running | failed
    feasible: bool = True
    value: float | None = None


@dataclass(frozen=True)
class ConfigOutlook:
    """What the planner concluded for one configuration."""

    config: str
    expand: tuple[int, ...]
    refine: tuple[int, ...]
    best_batch: int | None
    best_value: float | None
    nothing_fits: bool


class BatchPlanner:
    """Proposes (config, batch size) pairs, most useful first; none left = converged."""

    def __init__(
        self,
        configs: list[str],
        max_batch: int,
        maximize: bool,
        patience: int = 2,
        resolution: float = 1.25,
        keep_within: float = 0.8,
        repeats: int = 3,
        confirm_top: int = 3,
    ) -> None:
        self.configs = list(configs)
        self.max_batch = max_batch
        self.maximize = maximize
        self.patience = patience
        self.resolution = resolution
        self.keep_within = keep_within  # configs this far behind the leader are not refined
        self.repeats = repeats
        self.confirm_top = confirm_top

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def outlook(self, config: str, points: list[Observation]) -> ConfigOutlook:
        taken = {p.batch for p in points}
        done = {p.batch for p in points if p.state == "done"}
        blocked = sorted(p.batch for p in points if p.state == "failed" or (p.state == "done" and not p.feasible))
        upper = blocked[0] - 1 if blocked else self.max_batch
        feasible = {b: v for b, v in medians(points).items() if b <= upper}
        if not feasible:
            first = () if 1 in taken else (1,)
            return ConfigOutlook(config, first, (), None, None, nothing_fits=1 in blocked)
        best = min(feasible, key=lambda b: (-feasible[b] if self.maximize else feasible[b], b))
        top = max(feasible)
        expand: list[int] = []
        growing = top < upper and top < best * 2**self.patience
        if growing and 2 * top <= upper:
            expand = [b for b in (2 * top, 4 * top) if b <= upper and b not in taken][:1]
        known = sorted(done | set(blocked))
        left = max((b for b in known if b < best), default=None)
        right = min((b for b in known if b > best), default=None)
        if right is None and best == top and growing:
            right = upper + 1  # the first batch size that does not fit (or max_batch + 1)
        gaps = []
        for lo, hi in ((left, best), (best, right)):
            if lo is None or hi is None or hi - lo < 2 or hi / lo <= self.resolution:
                continue
            mid = self._midpoint(lo, hi, taken)
            if mid is not None:
                gaps.append((math.log(hi / lo), mid))
        refine = tuple(mid for _, mid in sorted(gaps, reverse=True))
        return ConfigOutlook(config, tuple(expand), refine, best, feasible[best], nothing_fits=False)

    @staticmethod
    def _midpoint(lo: int, hi: int, taken: set[int]) -> int | None:
        """The geometric midpoint of (lo, hi), rounded to a batch size not yet taken."""
        mid = math.sqrt(lo * hi)
        for b in sorted(range(lo + 1, hi), key=lambda b: (abs(b - mid), b)):
            if b not in taken:
                return b
        return None

    def outlooks(self, observations: list[Observation]) -> list[ConfigOutlook]:
        by_config: dict[str, list[Observation]] = {c: [] for c in self.configs}
        for o in observations:
            if o.config in by_config:
                by_config[o.config].append(o)
        return [self.outlook(c, pts) for c, pts in by_config.items()]

    def proposals(self, observations: list[Observation]) -> list[tuple[str, int]]:
        """Every (config, batch) worth measuring now, the most useful first. Expansion comes
        before refinement; only configurations close to the leader are refined."""
        outlooks = self.outlooks(observations)
        values = [o.best_value for o in outlooks if o.best_value is not None]
        leader = (max(values) if self.maximize else min(values)) if values else None
        out: list[tuple[str, int]] = [(o.config, b) for o in outlooks for b in o.expand]

        def close(o: ConfigOutlook) -> bool:
            if o.best_value is None or leader is None:
                return False
            if self.maximize:
                return o.best_value >= self.keep_within * leader
            return o.best_value <= leader / self.keep_within

        ranked = sorted(
            (o for o in outlooks if close(o) and not o.expand),
            key=lambda o: -(o.best_value or 0.0) if self.maximize else (o.best_value or 0.0),
        )
        out += [(o.config, b) for o in ranked for b in o.refine]
        return out or self._confirmations(observations)

    def _confirmations(self, observations: list[Observation]) -> list[tuple[str, int]]:
        """Once nothing new is worth measuring: the best points, until each has ``repeats``."""
        scored = []
        for config in self.configs:
            pts = [o for o in observations if o.config == config]
            blocked = [o.batch for o in pts if o.state == "failed" or (o.state == "done" and not o.feasible)]
            upper = min(blocked) - 1 if blocked else self.max_batch
            scored += [(v, config, b) for b, v in medians(pts).items() if b <= upper]
        scored.sort(key=lambda x: (-x[0] if self.maximize else x[0], x[2]))
        out = []
        for _, config, b in scored[: self.confirm_top]:
            count = sum(1 for o in observations if (o.config, o.batch) == (config, b) and o.state != "failed")
            if count < self.repeats:
                out.append((config, b))
        return out


def medians(points: list[Observation]) -> dict[int, float]:
    """batch → median of its feasible measured values (a point measured infeasible once is out)."""
    import statistics

    values: dict[int, list[float]] = {}
    out_of_bounds = {p.batch for p in points if p.state == "done" and not p.feasible}
    for p in points:
        if p.state == "done" and p.feasible and p.value is not None and p.batch not in out_of_bounds:
            values.setdefault(p.batch, []).append(p.value)
    return {b: statistics.median(v) for b, v in values.items()}
