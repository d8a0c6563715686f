"""A population: categorical variables with marginal shares and conditional tables, fitted
by iterative proportional fitting (IPF), and a sampler of persona records from the fit.

The file format (JSON, `"format": "islands-population/1"`), for any country's tables::

    {"format": "islands-population/1", "name": "US adults 18+",
     "variables": [
       {"name": "age", "categories": ["18-24", "25-34", ...],
        "shares": {"18-24": 0.117, ...},             # optional marginal; keys: categories or groups
        "groups": {"45-64": ["45-54", "55-64"]},     # optional: coarser keys tables may use
        "ranges": {"18-24": [18, 24], ...},          # optional: a number drawn uniformly inside
        "source": "..."},
       ...],
     "tables": [
       {"name": "education by sex and age", "given": ["sex", "age"], "target": "education",
        "rows": {"male|18-24": {"less_than_high_school": 0.14, ...}, ...},   # P(target | given)
        "source": "..."}]}

Shares need not sum to 1 (each row is normalized). A table's row keys join one key per
`given` variable with "|"; every key (row or column) is a category or a group of that
variable, and the keys of one variable must not overlap. A table constrains the target's
distribution *within* each row and leaves the row totals to the marginals; a joint count
table is a marginal plus a conditional. Variables linked by tables are fitted jointly, one
array per connected set; the others are independent.

A persona record is a flat dict: `{"id": "p000001", "age": 37, "age_group": "35-44",
"sex": "female", ...}` — a variable with `ranges` gives its number under its own name and
its category under NAME_group.

What it leaves out: continuous variables (bin them), weights per record (samples are
equally weighted), and consistency between sources of different years beyond what IPF's
compromise gives (`Population.residuals()` says how far each constraint ends up).
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from islands.errors import InvalidInput

__all__ = ["FORMAT", "Filter", "Population", "Table", "Variable", "parse_where"]

FORMAT = "islands-population/1"
Record = dict[str, Any]


@dataclass(frozen=True)
class Variable:
    """One categorical variable: its categories, optional marginal, groups and number ranges."""

    name: str
    categories: tuple[str, ...]
    shares: dict[str, float] | None = None
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    source: str = ""

    def members(self, key: str) -> tuple[str, ...]:
        """The categories a key stands for: members("45-64") -> ("45-54", "55-64")."""
        if key in self.categories:
            return (key,)
        if key in self.groups:
            return self.groups[key]
        raise InvalidInput(f"variable {self.name!r} has no category or group {key!r}")

    def membership(self, keys: list[str]) -> np.ndarray:
        """(keys, categories) 0/1 matrix; the keys must not overlap."""
        m = np.zeros((len(keys), len(self.categories)))
        for i, key in enumerate(keys):
            for c in self.members(key):
                m[i, self.categories.index(c)] = 1.0
        if (m.sum(0) > 1).any():
            raise InvalidInput(f"keys {keys} of variable {self.name!r} overlap")
        return m


@dataclass(frozen=True)
class Table:
    """P(target | given...) by rows; `given=()` is the target's marginal."""

    name: str
    given: tuple[str, ...]
    target: str
    rows: dict[tuple[str, ...], dict[str, float]]
    source: str = ""


@dataclass(frozen=True)
class Filter:
    """One condition of --where: `age>=30`, `region=West|South`, `sex!=male`."""

    name: str
    op: str  # "=", "!=", ">=", "<=", ">", "<"
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}{self.op}{'|'.join(self.values)}"


_WHERE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")


def parse_where(text: str | None) -> list[Filter]:
    """ "age>=30,region=West|South" -> [Filter(age >= 30), Filter(region = West or South)]."""
    if not text or not text.strip():
        return []
    out = []
    for part in text.split(","):
        m = _WHERE.match(part)
        if m is None:
            raise InvalidInput(f"invalid --where condition {part.strip()!r}: write NAME=VALUE, NAME!=A|B or NAME>=NUMBER")
        name, op, value = m.groups()
        out.append(Filter(name, op, tuple(v.strip() for v in value.split("|"))))
    return out


def _shares(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(f"{where}: shares must be a non-empty object of key -> number")
    out = {}
    for k, v in raw.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or v < 0 or not math.isfinite(v):
            raise InvalidInput(f"{where}: share of {k!r} must be a number >= 0, not {v!r}")
        out[str(k)] = float(v)
    if sum(out.values()) <= 0:
        raise InvalidInput(f"{where}: shares sum to 0")
    return out


class Population:
    """Variables and tables, fitted once by IPF; `sample(n, seed, where)` draws personas."""

    def __init__(self, variables: list[Variable], tables: list[Table], *, name: str = "", description: str = "") -> None:
        self.name = name
        self.description = description
        self.variables = {v.name: v for v in variables}
        if len(self.variables) != len(variables):
            raise InvalidInput("population: a variable name appears twice")
        self.tables = list(tables)
        for v in variables:
            if not v.categories or len(set(v.categories)) != len(v.categories):
                raise InvalidInput(f"variable {v.name!r}: categories must be non-empty and distinct")
            if v.shares is not None:
                v.membership(list(v.shares))
            for c, (lo, hi) in v.ranges.items():
                if c not in v.categories or lo > hi:
                    raise InvalidInput(f"variable {v.name!r}: bad range {c!r}: [{lo}, {hi}]")
            if v.ranges and set(v.ranges) != set(v.categories):
                raise InvalidInput(f"variable {v.name!r}: ranges must cover every category")
        for t in self.tables:
            for n in (*t.given, t.target):
                if n not in self.variables:
                    raise InvalidInput(f"table {t.name!r} names an unknown variable {n!r}")
            for key, row in t.rows.items():
                if len(key) != len(t.given):
                    raise InvalidInput(f"table {t.name!r}: row {'|'.join(key)!r} needs one key per given variable {list(t.given)}")
                for var, k in zip(t.given, key):
                    self.variables[var].members(k)
                self.variables[t.target].membership(list(row))
        self._components = self._link()
        self._fitted: list[np.ndarray] = [self._fit(c) for c in self._components]

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, doc: Any, where: str = "population") -> Population:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InvalidInput(f'{where}: not a population file (expected "format": "{FORMAT}")')
        try:
            variables = [
                Variable(
                    name=str(v["name"]),
                    categories=tuple(str(c) for c in v["categories"]),
                    shares=_shares(v["shares"], f"{where}: variable {v['name']!r}") if v.get("shares") is not None else None,
                    groups={str(g): tuple(str(c) for c in cs) for g, cs in (v.get("groups") or {}).items()},
                    ranges={str(c): (int(r[0]), int(r[1])) for c, r in (v.get("ranges") or {}).items()},
                    source=str(v.get("source", "")),
                )
                for v in doc["variables"]
            ]
            tables = [
                Table(
                    name=str(t["name"]),
                    given=tuple(str(g) for g in t["given"]),
                    target=str(t["target"]),
                    rows={
                        tuple(k.split("|")) if k else (): _shares(r, f"{where}: table {t['name']!r} row {k!r}")
                        for k, r in t["rows"].items()
                    },
                    source=str(t.get("source", "")),
                )
                for t in doc.get("tables", [])
            ]
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
            if isinstance(e, InvalidInput):
                raise
            raise InvalidInput(f"{where}: malformed population file ({type(e).__name__}: {e})") from None
        return cls(variables, tables, name=str(doc.get("name", "")), description=str(doc.get("description", "")))

    @classmethod
    def load(cls, path: str | Path) -> Population:
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(f"population file {p} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidInput(f"population file {p} is not JSON: {e}") from None
        return cls.from_dict(doc, where=f"population file {p}")

    @classmethod
    def us_adults(cls) -> Population:
        """US adults 18+ from Census ACS / CPS tables (built by `islands.people.us`)."""
        return cls.load(Path(__file__).parent / "data" / "us_adults.json")

    # -- fitting -------------------------------------------------------------------------

    def _constraints(self) -> list[Table]:
        """Tables first, marginals last: the marginals end up exact."""
        margins = [Table(f"{v.name} marginal", (), v.name, {(): v.shares}) for v in self.variables.values() if v.shares is not None]
        return self.tables + margins

    def _link(self) -> list[tuple[str, ...]]:
        """Connected sets of variables (linked by tables), in declaration order."""
        parent = {n: n for n in self.variables}

        def root(n: str) -> str:
            while parent[n] != n:
                n = parent[n]
            return n

        for t in self.tables:
            for g in t.given:
                parent[root(g)] = root(t.target)
        groups: dict[str, list[str]] = {}
        for n in self.variables:
            groups.setdefault(root(n), []).append(n)
        return [tuple(g) for g in groups.values()]

    def _fit(self, names: tuple[str, ...], iterations: int = 300, tol: float = 1e-10) -> np.ndarray:
        shape = tuple(len(self.variables[n].categories) for n in names)
        joint = np.full(shape, 1.0 / math.prod(shape))  # (cats of names[0], cats of names[1], ...)
        cons = [t for t in self._constraints() if t.target in names]
        for _ in range(iterations):
            before = joint.copy()
            for t in cons:
                joint = self._apply(joint, names, t)
            if np.abs(joint - before).max() < tol:
                break
        return joint

    def _keyed(self, joint: np.ndarray, names: tuple[str, ...], t: Table) -> tuple[np.ndarray, list[np.ndarray], list[list[str]]]:
        """The joint summed to (row keys..., target keys), with the membership matrices used."""
        axes = [names.index(n) for n in (*t.given, t.target)]
        keys = [sorted({row[i] for row in t.rows}) for i in range(len(t.given))]
        keys.append(sorted({k for row in t.rows.values() for k in row}))
        mats = [self.variables[n].membership(k) for n, k in zip((*t.given, t.target), keys)]
        letters = string.ascii_letters
        src = "".join(letters[i] for i in range(joint.ndim))
        ops = [joint] + mats
        subs = [src] + [letters[26 + j] + letters[a] for j, a in enumerate(axes)]
        out = "".join(letters[26 + j] for j in range(len(axes)))
        return np.einsum(",".join(subs) + "->" + out, *ops), mats, keys

    def _apply(self, joint: np.ndarray, names: tuple[str, ...], t: Table) -> np.ndarray:
        keyed, mats, keys = self._keyed(joint, names, t)  # (row keys..., target keys)
        target = np.zeros_like(keyed)
        known = np.zeros(keyed.shape[:-1], dtype=bool)
        for row_key, row in t.rows.items():
            idx = tuple(keys[i].index(k) for i, k in enumerate(row_key))
            total = sum(row.values())
            known[idx] = True
            for k, share in row.items():
                target[idx + (keys[-1].index(k),)] = share / total
        totals = keyed.sum(-1, keepdims=True)
        current = np.divide(keyed, totals, out=np.zeros_like(keyed), where=totals > 0)
        factor = np.divide(target, current, out=np.ones_like(keyed), where=current > 0)
        factor[~known] = 1.0
        # back to categories: a category outside every key keeps factor 1
        axes = [names.index(n) for n in (*t.given, t.target)]
        letters = string.ascii_letters
        subs = [letters[26 + j] + letters[a] for j, a in enumerate(axes)]
        cat_factor = np.einsum(",".join([letters[26 : 26 + len(axes)]] + subs) + "->" + "".join(letters[a] for a in axes), factor, *mats)
        covered = [m.sum(0) > 0 for m in mats]
        for j, cov in enumerate(covered):
            index: list[Any] = [slice(None)] * len(axes)
            index[j] = ~cov
            cat_factor[tuple(index)] = 1.0
        order = np.argsort(axes)
        cat_factor = np.transpose(cat_factor, order)  # axes in the joint's order
        shape = [1] * joint.ndim
        for a in sorted(axes):
            shape[a] = joint.shape[a]
        out: np.ndarray = joint * cat_factor.reshape(shape)
        result: np.ndarray = out / out.sum()
        return result

    # -- reading the fit -----------------------------------------------------------------

    def _component(self, name: str) -> tuple[tuple[str, ...], np.ndarray]:
        for names, joint in zip(self._components, self._fitted):
            if name in names:
                return names, joint
        raise InvalidInput(f"population has no variable {name!r}; it has {', '.join(self.variables)}")

    def marginal(self, name: str) -> dict[str, float]:
        """The fitted share of each category of `name`."""
        names, joint = self._component(name)
        axis = names.index(name)
        m = joint.sum(axis=tuple(i for i in range(joint.ndim) if i != axis))
        return dict(zip(self.variables[name].categories, m.tolist()))

    def conditional(self, target: str, given: str) -> dict[str, dict[str, float]]:
        """Fitted P(target | given) by category of `given`."""
        names, joint = self._component(target)
        if given not in names:
            return {g: self.marginal(target) for g in self.variables[given].categories}
        a, b = names.index(given), names.index(target)
        m = joint.sum(axis=tuple(i for i in range(joint.ndim) if i not in (a, b)))
        m = m if a < b else m.T  # (given, target)
        rows = m / m.sum(1, keepdims=True)
        return {g: dict(zip(self.variables[target].categories, r.tolist())) for g, r in zip(self.variables[given].categories, rows)}

    def residuals(self) -> dict[str, float]:
        """Each constraint's largest gap between fitted and stated share (sources that
        disagree cannot all be met)."""
        out = {}
        for names, joint in zip(self._components, self._fitted):
            for t in self._constraints():
                if t.target not in names:
                    continue
                keyed, _, keys = self._keyed(joint, names, t)
                fitted = keyed / np.maximum(keyed.sum(-1, keepdims=True), 1e-300)
                gap = 0.0
                for row_key, row in t.rows.items():
                    idx = tuple(keys[i].index(k) for i, k in enumerate(row_key))
                    total = sum(row.values())
                    for k, share in row.items():
                        gap = max(gap, abs(float(fitted[idx + (keys[-1].index(k),)]) - share / total))
                out[t.name] = gap
        return out

    # -- sampling ------------------------------------------------------------------------

    def _check(self, f: Filter) -> tuple[Variable, bool]:
        """The variable a filter names, and whether it compares numbers."""
        name = f.name[: -len("_group")] if f.name.endswith("_group") and f.name[: -len("_group")] in self.variables else f.name
        if name not in self.variables:
            raise InvalidInput(f"invalid --where {str(f)!r}: no variable {f.name!r} (variables: {', '.join(self.variables)})")
        v = self.variables[name]
        numeric = bool(v.ranges) and name == f.name
        if f.op in (">=", "<=", ">", "<"):
            if not numeric or len(f.values) != 1:
                raise InvalidInput(
                    f"invalid --where {str(f)!r}: {f.op} needs a variable with numbers (one of "
                    f"{', '.join(n for n, x in self.variables.items() if x.ranges) or 'none'}) and one number"
                )
            try:
                float(f.values[0])
            except ValueError:
                raise InvalidInput(f"invalid --where {str(f)!r}: {f.values[0]!r} is not a number") from None
        return v, numeric

    def _weights(self, v: Variable, f: Filter, numeric: bool) -> np.ndarray:
        """Per category of v: the share of it that passes the filter."""
        if numeric:
            lo, hi = self._interval(f)
            out = []
            for c in v.categories:
                a, b = v.ranges[c]
                inside = max(0, min(b, hi) - max(a, lo) + 1)
                out.append(inside / (b - a + 1))
            return np.array(out, dtype=float)
        picked: set[str] = set()
        lower = {c.casefold(): c for c in (*v.categories, *v.groups)}
        for value in f.values:
            key = lower.get(value.casefold())
            if key is None:
                raise InvalidInput(f"invalid --where {str(f)!r}: {v.name} has no {value!r} (it has {', '.join(v.categories)})")
            picked.update(v.members(key))
        hit = np.array([c in picked for c in v.categories], dtype=float)
        return hit if f.op == "=" else 1.0 - hit

    @staticmethod
    def _interval(f: Filter) -> tuple[float, float]:
        x = float(f.values[0])
        if f.op == "=":
            return x, x
        return {">=": (x, math.inf), ">": (math.floor(x) + 1, math.inf), "<=": (-math.inf, x), "<": (-math.inf, math.ceil(x) - 1)}.get(
            f.op, (-math.inf, math.inf)
        )

    def sample(self, n: int, seed: int = 0, where: list[Filter] | None = None) -> list[Record]:
        """n persona records drawn from the fit (restricted to `where`), reproducible by seed."""
        if n < 1:
            raise InvalidInput(f"invalid number of personas {n}: must be at least 1")
        where = where or []
        rng = np.random.default_rng(seed)
        checked = [(f, *self._check(f)) for f in where]
        records: list[Record] = [{"id": f"p{i + 1:06d}"} for i in range(n)]
        for names, joint in zip(self._components, self._fitted):
            p = joint.copy()
            for f, v, numeric in checked:
                if v.name in names:
                    shape = [1] * p.ndim
                    shape[names.index(v.name)] = -1
                    p = p * self._weights(v, f, numeric).reshape(shape)
            total = p.sum()
            if total <= 0:
                raise InvalidInput(f"no one in the population matches --where {','.join(map(str, where))}")
            cells = rng.choice(p.size, size=n, p=(p / total).ravel())
            idx = np.unravel_index(cells, p.shape)
            for j, name in enumerate(names):
                v = self.variables[name]
                for r, c in zip(records, idx[j].tolist()):
                    cat = v.categories[c]
                    if v.ranges:
                        lo, hi = v.ranges[cat]
                        for f, fv, numeric in checked:
                            if fv.name == name and numeric:
                                a, b = self._interval(f)
                                lo = max(lo, math.ceil(a)) if math.isfinite(a) else lo
                                hi = min(hi, math.floor(b)) if math.isfinite(b) else hi
                        r[name] = int(rng.integers(lo, hi + 1))
                        r[f"{name}_group"] = cat
                    else:
                        r[name] = cat
        return [{k: r[k] for k in self._order(r)} for r in records]

    def _order(self, r: Record) -> list[str]:
        keys = ["id"]
        for n, v in self.variables.items():
            keys += [n, f"{n}_group"] if v.ranges else [n]
        return keys
