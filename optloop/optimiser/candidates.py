"""Feasible candidate designs for the acquisition: fresh samples and local mutations.

The acquisition is maximised over a finite pool of designs that each passed every
feasibility rule (:meth:`optloop.space.DesignSpace.violations`), so whatever it picks is
feasible and on the composition simplex exactly, with no repair step. The pool mixes

* feasible random designs from :meth:`~optloop.space.DesignSpace.sample` (a fixed part drawn
  once per optimiser, a fresh part per proposal),
* local mutations of the incumbents (the best or Pareto-optimal observed designs), and
* later, mutations of the candidates the screen scores highest (a local search).

A mutation perturbs the active continuous parameters (fractions, thickness, process
conditions, layer thicknesses, N/P) in the unit (or log) scale of their bounds and, now and
then, changes one categorical choice (an element, the structure, the method, a layer's
presence), drawing any parameter that this makes active afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from optloop.exceptions import DesignError
from optloop.space.design import Design
from optloop.space.encoding import from_values, to_values
from optloop.space.parameters import NONE, Parameter
from optloop.space.space import DesignSpace

__all__ = ["is_active", "mutate", "neighbours", "unique_feasible"]

Values = dict[str, float | str]


def is_active(p: Parameter, values: Values) -> bool:
    """Return True when parameter ``p`` matters for the design given by ``values``.

    A slot's fraction matters when its element is not ``"none"``; a parameter with an
    ``active_when`` condition of the form ``"name == choice"`` when that holds.
    """
    if p.name.endswith(".fraction"):
        return values.get(p.name[: -len(".fraction")] + ".element") != NONE
    if p.active_when and " == " in p.active_when:
        name, choice = (s.strip() for s in p.active_when.split(" == ", 1))
        return str(values.get(name)) == choice
    return True


def _mutate_values(
    params: Sequence[Parameter],
    values: Values,
    rng: np.random.Generator,
    scale: float,
    p_categorical: float,
) -> Values:
    v = dict(values)
    cats = [p for p in params if p.kind == "categorical" and not p.fixed]
    if cats and rng.random() < p_categorical:
        p = cats[int(rng.integers(len(cats)))]
        before = {q.name for q in params if is_active(q, v)}
        others = [c for c in p.choices if c != v[p.name]]
        v[p.name] = others[int(rng.integers(len(others)))]
        for q in params:
            if q.kind == "continuous" and not q.fixed and q.name not in before and is_active(q, v):
                v[q.name] = q.from_unit(float(rng.random()))
    conts = [p for p in params if p.kind == "continuous" and not p.fixed and is_active(p, v)]
    if conts:
        if rng.random() < 0.5:
            k = min(len(conts), 2)
            picks = [conts[int(i)] for i in rng.choice(len(conts), size=k, replace=False)]
        else:
            picks = conts
        for p in picks:
            # Clipped: a step starts inside the bounds even from a value just outside them.
            u = p.to_unit(float(v[p.name]), clip=True) + scale * float(rng.standard_normal())
            v[p.name] = p.from_unit(u)
    return v


def mutate(
    space: DesignSpace,
    design: Design,
    n: int,
    rng: np.random.Generator,
    *,
    scale: float = 0.1,
    p_categorical: float = 0.3,
) -> list[Design]:
    """Return up to ``n`` feasible mutations of ``design`` (``n`` attempts; infeasible dropped).

    ``scale`` is the standard deviation of a continuous step as a share of the parameter's
    (log-)range; ``p_categorical`` the chance that one categorical choice changes too.
    """
    try:
        base = to_values(design, space.parameters, space.config)
    except ValueError:
        return []
    out: list[Design] = []
    for _ in range(n):
        values = _mutate_values(space.parameters, base, rng, scale, p_categorical)
        try:
            cand = from_values(values, space.config)
        except (DesignError, ValueError):
            continue
        if not space.violations(cand):
            out.append(cand)
    return out


def neighbours(space: DesignSpace, design: Design) -> list[Design]:
    """Return the feasible designs one categorical choice away from ``design``.

    Every other choice of every free categorical (an element, the structure, the method, a
    layer's presence), all else kept; a parameter the change makes active starts at the middle
    of its (log-)range. The categorical moves of an alternating local search.
    """
    try:
        base = to_values(design, space.parameters, space.config)
    except ValueError:
        return []
    params = space.parameters
    before = {q.name for q in params if is_active(q, base)}
    out: list[Design] = []
    for p in params:
        if p.kind != "categorical" or p.fixed:
            continue
        for choice in p.choices:
            if choice == base[p.name]:
                continue
            v = dict(base)
            v[p.name] = choice
            for q in params:
                if q.kind == "continuous" and not q.fixed and q.name not in before:
                    if is_active(q, v):
                        v[q.name] = q.from_unit(0.5)
            try:
                cand = from_values(v, space.config)
            except (DesignError, ValueError):
                continue
            if not space.violations(cand):
                out.append(cand)
    return out


def unique_feasible(
    designs: Iterable[Design], exclude: set[str], space: DesignSpace | None = None
) -> tuple[list[Design], list[str]]:
    """Drop duplicates, designs whose key is in ``exclude`` and (given ``space``) infeasible ones.

    Returns the designs kept and their keys, in first-seen order.
    """
    seen = set(exclude)
    out: list[Design] = []
    keys: list[str] = []
    for d in designs:
        k = d.key()
        if k in seen:
            continue
        seen.add(k)
        if space is not None and space.violations(d):
            continue
        out.append(d)
        keys.append(k)
    return out, keys
