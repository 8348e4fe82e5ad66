"""Space-filling feasible initial designs, stratified over the categorical levels.

A plain feasible Sobol sequence (map a Sobol point over all parameters to a design, keep it
if it breaks no rule) thins every categorical level that rules often reject: with
silicide-forming metals in the space, Si made 4.7 % of such designs instead of 11.1 %.
:class:`StratifiedDesigns` instead builds each design in two steps:

1. **An assignment of every categorical** (element slots, structure, method, layer presence,
   ...). Each categorical cycles through its levels in a shuffled order, independently of
   the others (a Latin hypercube over the categoricals): a design takes, for every
   categorical, one of the levels used least so far, so among the first ``n`` designs each
   level of a ``k``-level categorical appears ``floor(n / k)`` or ``ceil(n / k)`` times.
   A pick that would leave the levels still due no promising combination (Si due in both
   alloying slots) is passed over while another exists. When no combination of least-used
   levels has a feasible point (the rules tie some levels together: aqueous plating
   deposits no Si), one categorical is released from that requirement, the last of the
   space's parameter order first, so the element slots, listed first, stay balanced
   longest; such a release can leave a later categorical one off even for a while, and a
   categorical that the rules tie to another cannot be balanced with it (in the default
   space only Sn plates, so plated films are at most a quarter of the designs while the
   first slot's four elements are balanced). A level that no feasible design can have at
   all is found before the first design, logged once and skipped.
2. **The continuous parameters active under that assignment**, from a scrambled Sobol
   sequence, with rejection only within the assignment: a rule that rejects most of one
   level's continuous region costs draws, not designs of that level. The composition's
   active slots are uniform on the simplex of fractions >= ``min_element_fraction`` (sorted
   Sobol coordinates give Dirichlet(1) spacings), assigned in decreasing order of fraction
   within each kind so that the design's canonical slots are the assignment's.

Everything depends only on the space and the seed. Designs are made lazily, one at a time,
and remembered, so later calls continue where earlier ones stopped, whatever the batch sizes.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from optloop.exceptions import DesignError
from optloop.space.design import Design
from optloop.space.encoding import from_values
from optloop.space.parameters import NONE, Parameter
from optloop.space.space import DesignSpace

__all__ = ["SobolDesigns", "StratifiedDesigns", "unit_to_values"]

log = logging.getLogger(__name__)

_CHUNK = 256
#: Continuous points drawn in one look at an assignment of the categoricals.
_LOOK_DRAWS = 4
#: Searches (of ``assignments_per_stage`` looks) for any feasible design with a given level,
#: before the level is skipped.
_PROBE_SEARCHES = 16
#: Failed draws after which an assignment no longer counts as a way out of a dead end.
_DOUBTFUL_DRAWS = 16
#: Largest product of due levels that the dead-end look-ahead enumerates.
_AHEAD_MAX = 512

Values = dict[str, float | str]
Assignment = tuple[str, ...]


def _value(p: Parameter, u: float) -> float | str:
    if p.kind == "categorical":
        return p.choices[min(int(u * len(p.choices)), len(p.choices) - 1)]
    return float(p.from_unit(u))


def unit_to_values(params: list[Parameter], u: np.ndarray) -> dict[str, float | str]:
    """Map a point of the unit cube over the non-fixed parameters to parameter values."""
    out: dict[str, float | str] = {}
    k = 0
    for p in params:
        if p.fixed:
            out[p.name] = p.choices[0] if p.kind == "categorical" else p.low
        else:
            out[p.name] = _value(p, float(u[k]))
            k += 1
    return out


def _active_condition(p: Parameter) -> tuple[str, str] | None:
    """Return the ``(categorical, level)`` under which ``p`` is active, if it has one."""
    if p.active_when and " == " in p.active_when:
        name, choice = (s.strip() for s in p.active_when.split(" == ", 1))
        return name, choice
    return None


@dataclass(frozen=True)
class _Layout:
    """What the continuous draws fill in under one assignment of the categoricals."""

    values: Values
    """The categoricals, fixed parameters and inactive ones (at their lower bound)."""
    free: list[tuple[str, int]]
    """Active continuous parameters other than fractions, with their Sobol column."""
    groups: tuple[list[str], list[str]]
    """Fraction parameters of the filled alloying and non-alloying slots, in slot order."""
    cuts: list[int]
    """Sobol columns whose sorted values cut the simplex (one fewer than filled slots)."""
    empty: bool
    """True when the filled slots cannot have fractions >= the floor summing to one."""


class StratifiedDesigns:
    """Feasible designs balanced over every categorical level, space-filling within each.

    Args:
        space: The design space; every design breaks none of its rules.
        seed: Seeds the level cycles and the Sobol sequence; same seed, same designs.
        max_points: Continuous points (mapped and checked designs) to examine at most; the
            sequence ends early, with fewer designs, once they are spent.
        draws_per_assignment: Continuous points tried for one assignment of the categoricals
            before it counts as having no feasible point.
        assignments_per_stage: Assignments tried before one more categorical is released
            from the least-used-level requirement.
    """

    def __init__(
        self,
        space: DesignSpace,
        seed: int,
        *,
        max_points: int = 2**16,
        draws_per_assignment: int = 128,
        assignments_per_stage: int = 64,
    ) -> None:
        for name, value in (
            ("max_points", max_points),
            ("draws_per_assignment", draws_per_assignment),
            ("assignments_per_stage", assignments_per_stage),
        ):
            if value < 1:
                raise ValueError(f"{name} = {value}; limit: >= 1")
        self.space = space
        self.seed = seed
        self.max_points = max_points
        self.draws_per_assignment = draws_per_assignment
        self.assignments_per_stage = assignments_per_stage
        params = space.parameters
        self._cats = [p for p in params if p.kind == "categorical" and not p.fixed]
        self._conts = [p for p in params if p.kind == "continuous" and not p.fixed]
        self._base: Values = {
            p.name: (p.choices[0] if p.kind == "categorical" else p.low)
            for p in params
            if p.fixed
        }
        # Composition slots: (element parameter, fraction parameter), alloying slots first.
        names = {p.name for p in params}
        self._slots = [
            (p.name, p.name[: -len(".element")] + ".fraction")
            for p in params
            if p.is_element and p.name[: -len(".element")] + ".fraction" in names
        ]
        self._col = {p.name: k for k, p in enumerate(self._conts)}
        # The unit mapping of every continuous column at once (Parameter.from_unit's).
        scaled = [p._scaled_bounds() for p in self._conts]
        self._low = np.array([lo for lo, _ in scaled])
        self._span = np.array([hi - lo for lo, hi in scaled])
        self._log = np.array([p.log_scale for p in self._conts], dtype=bool)
        self._layouts: dict[Assignment, _Layout] = {}
        self._floor = space.config.alloy_layer.min_element_fraction
        rng_seed, sobol_seed = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(rng_seed)
        self._engine = qmc.Sobol(
            d=max(len(self._conts), 1), scramble=True, seed=np.random.default_rng(sobol_seed)
        )
        self._buffer = np.empty((0, max(len(self._conts), 1)))
        self._drawn = 0
        self._levels: list[list[str]] = []
        self._counts: list[dict[str, int]] = []
        self._failed: dict[Assignment, int] = {}  # points drawn in vain, per assignment
        self._designs: list[Design] = []
        self._started = False
        self._done = False
        self.skipped: dict[str, list[str]] = {}
        """Levels (by categorical) that no feasible design was found to have; never used."""

    @property
    def points_examined(self) -> int:
        """Return how many continuous points have been mapped to designs and checked so far."""
        return self._drawn

    # ------------------------------------------------------------------- the two steps

    def _row(self) -> np.ndarray | None:
        if self._drawn >= self.max_points:
            return None
        if not len(self._buffer):
            self._buffer = self._engine.random(_CHUNK)
        row, self._buffer = self._buffer[0], self._buffer[1:]
        self._drawn += 1
        return row

    def _well_formed(self, assign: Assignment) -> bool:
        """Refuse element slots that repeat an element or leave a gap before a filled slot."""
        values = dict(zip((p.name for p in self._cats), assign, strict=True))
        seen: set[str] = set()
        for kind in ("alloying", "non_alloying"):
            gap = False
            for element, _ in self._slots:
                if f".{kind}_" not in element:
                    continue
                sym = str(values.get(element, self._base.get(element, NONE)))
                if sym == NONE:
                    gap = True
                elif gap or sym in seen:
                    return False
                else:
                    seen.add(sym)
        return True

    def _layout(self, assign: Assignment) -> _Layout:
        """Return (and remember) what the continuous draws fill in under an assignment."""
        layout = self._layouts.get(assign)
        if layout is not None:
            return layout
        v: Values = dict(self._base)
        v.update(zip((p.name for p in self._cats), assign, strict=True))
        free: list[tuple[str, int]] = []
        for p in self._conts:
            cond = _active_condition(p)
            # Inactive parameters keep their lower bound, as in a design's canonical values.
            if cond is not None and str(v.get(cond[0])) != cond[1]:
                v[p.name] = p.low
            elif not p.name.endswith(".fraction"):
                free.append((p.name, self._col[p.name]))
        groups: tuple[list[str], list[str]] = ([], [])
        cols: list[int] = []
        for element, fraction in self._slots:
            if str(v[element]) == NONE:
                v[fraction] = 0.0
                continue
            groups[1 if ".non_alloying_" in element else 0].append(fraction)
            if fraction in self._col:
                cols.append(self._col[fraction])
        k = len(groups[0]) + len(groups[1])
        # The fractions' floor (or a fixed fraction) may leave no simplex at all.
        empty = k > 0 and (k * self._floor > 1.0 or len(cols) < k - 1)
        layout = _Layout(v, free, groups, cols[: max(k - 1, 0)], empty)
        self._layouts[assign] = layout
        return layout

    def _values(self, assign: Assignment, u: np.ndarray) -> Values | None:
        """Map a Sobol point to the values of one assignment; None if the simplex is empty."""
        layout = self._layout(assign)
        if layout.empty:
            return None
        v = dict(layout.values)
        x = self._low + u * self._span
        x = np.where(self._log, np.exp(x), x)
        for name, col in layout.free:
            v[name] = float(x[col])
        alloying, non_alloying = layout.groups
        k = len(alloying) + len(non_alloying)
        if k == 0:
            return v
        # k - 1 sorted uniforms cut [0, 1] into k spacings: uniform on the simplex.
        cuts = np.sort(u[layout.cuts])
        spare = 1.0 - k * self._floor
        parts = self._floor + spare * np.diff(np.concatenate(([0.0], cuts, [1.0])))
        k_a = len(alloying)
        for group, share in ((alloying, parts[:k_a]), (non_alloying, parts[k_a:])):
            for name, f in zip(group, sorted(share.tolist(), reverse=True), strict=True):
                v[name] = f
        return v

    def _fill(self, assign: Assignment, draws: int) -> Design | None:
        """Return a feasible design of this assignment, drawing continuous points; or None."""
        for _ in range(draws):
            u = self._row()
            if u is None:
                return None
            values = self._values(assign, u)
            if values is None:
                return None
            try:
                design = from_values(values, self.space.config)
            except (DesignError, ValueError):
                continue
            if not self.space.violations(design):
                return design
        return None

    def _promising(self, assign: Assignment) -> bool:
        """Return False for an assignment known (or, after a few looks, likely) to be empty."""
        if assign not in self._failed and not self._well_formed(assign):
            self._failed[assign] = self.draws_per_assignment
        return self._failed.get(assign, 0) < _DOUBTFUL_DRAWS

    def _leaves_a_way(self, assign: Assignment, least: list[list[str]]) -> bool:
        """Return False when taking ``assign`` leaves the levels still due no promising pick.

        Levels still due: each categorical's least-used levels once ``assign`` took one
        (all of them again when it took the last). Only small products are enumerated.
        """
        due = [
            [s for s in lv if s != a] or self._levels[j]
            for j, (lv, a) in enumerate(zip(least, assign, strict=True))
        ]
        if int(np.prod([len(d) for d in due])) > _AHEAD_MAX:
            return True
        return any(self._promising(tuple(c)) for c in itertools.product(*due))

    def _search(
        self, allowed: list[list[str]], least: list[list[str]] | None = None
    ) -> tuple[Assignment, Design] | None:
        """Look at assignments drawn from ``allowed`` (a list per categorical) for a design.

        Each look draws up to ``_LOOK_DRAWS`` continuous points; an assignment whose looks
        have drawn ``draws_per_assignment`` points in all without a feasible design is
        settled as having none and not looked at again. Given the least-used levels
        ``least``, an assignment after which no promising combination of the levels still
        due is left is passed over (it would force a release on the next design).
        """
        for _ in range(self.assignments_per_stage):
            assign = tuple(str(a[int(self._rng.integers(len(a)))]) for a in allowed)
            if self._failed.get(assign, 0) >= self.draws_per_assignment:
                continue
            if not self._well_formed(assign):
                self._failed[assign] = self.draws_per_assignment
                continue
            if least is not None and not self._leaves_a_way(assign, least):
                continue
            design = self._fill(assign, _LOOK_DRAWS)
            if design is not None:
                self._failed[assign] = -(2**62)  # has a feasible point: never settled
                return assign, design
            if self._drawn >= self.max_points:
                return None
            self._failed[assign] = self._failed.get(assign, 0) + _LOOK_DRAWS
        return None

    # ------------------------------------------------------------------- the sequence

    def _start(self) -> None:
        """Find the levels no feasible design can have (logged once) and start their counts."""
        self._started = True
        full = [list(p.choices) for p in self._cats]
        for j, p in enumerate(self._cats):
            live = []
            for level in p.choices:
                allowed = [[level] if i == j else full[i] for i in range(len(full))]
                if any(self._search(allowed) is not None for _ in range(_PROBE_SEARCHES)):
                    live.append(level)
                elif self._drawn < self.max_points:
                    self.skipped.setdefault(p.name, []).append(level)
            if self.skipped.get(p.name):
                log.warning(
                    "initial design: no feasible design found with %s = %s in %d assignments "
                    "of up to %d draws each; the level is skipped",
                    p.name,
                    " or ".join(repr(s) for s in self.skipped[p.name]),
                    _PROBE_SEARCHES * self.assignments_per_stage,
                    _LOOK_DRAWS,
                )
            self._levels.append(live or list(p.choices))
            self._counts.append({s: 0 for s in live or p.choices})

    def _next(self) -> Design | None:
        if not self._started:
            self._start()
        m = len(self._cats)
        least = []
        for counts in self._counts:
            low = min(counts.values())
            least.append([s for s, c in counts.items() if c == low])
        # When no combination of least-used levels has a feasible point, release one
        # categorical to any of its levels, the last in parameter order first; then the last
        # s of them together. Each look at an assignment is short (most that fail, fail on
        # their categoricals alone); its failed draws add up until it is settled as empty.
        # Rounds repeat until a design turns up, the draws are spent, or no assignment is
        # left to look at.
        singles = [{j} for j in reversed(range(m))]
        released = singles + [set(range(m - s, m)) for s in range(2, m + 1)]
        while True:
            before = self._drawn
            for ahead, free in [(True, set()), (False, set()), *((False, f) for f in released)]:
                allowed = [self._levels[j] if j in free else least[j] for j in range(m)]
                found = self._search(allowed, least if ahead else None)
                if found is not None:
                    assign, design = found
                    for counts, level in zip(self._counts, assign, strict=True):
                        counts[level] += 1
                    return design
                if self._drawn >= self.max_points:
                    return None
            if self._drawn == before:
                return None

    def __iter__(self) -> Iterator[Design]:
        i = 0
        while True:
            while i >= len(self._designs):
                if self._done:
                    return
                design = self._next()
                if design is None:
                    self._done = True
                    return
                self._designs.append(design)
            yield self._designs[i]
            i += 1

    def take(self, n: int, exclude: set[str]) -> list[Design]:
        """Return the first ``n`` designs of the sequence whose keys are not in ``exclude``.

        Fewer are returned only when ``max_points`` continuous points hold no more, or no
        assignment yields a feasible design.
        """
        out: list[Design] = []
        seen = set(exclude)
        if n <= 0:
            return out
        for design in self:
            key = design.key()
            if key in seen:
                continue
            seen.add(key)
            out.append(design)
            if len(out) >= n:
                break
        return out


#: The optimiser's initial design (kept under its former name).
SobolDesigns = StratifiedDesigns
