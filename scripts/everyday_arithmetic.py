"""Write examples/tasks/everyday_arithmetic.jsonl: arithmetic questions of the kinds `ask` is
built for (big products, powers, percentages, prices, sums, distances, averages), in plain
words, with exact answers. Seeded: the file is the same on every run.

    python scripts/everyday_arithmetic.py [--n 60] [--seed 7] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from fractions import Fraction
from pathlib import Path


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else str(float(x))


def questions(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    makers = []

    def product() -> tuple[str, Fraction]:
        a, b = rng.randint(10**5, 10**9), rng.randint(10**4, 10**9)
        return rng.choice([f"What is {a} multiplied by {b}?", f"What is {a} times {b}?",
                           f"Multiply {a} by {b}."]), Fraction(a * b)

    def power() -> tuple[str, Fraction]:
        a, b = rng.randint(2, 19), rng.randint(5, 25)
        return rng.choice([f"What is {a} to the power {b}?", f"What is {a} raised to the power of {b}?",
                           f"Compute {a}^{b}."]), Fraction(a**b)

    def percent() -> tuple[str, Fraction]:
        p, x = rng.choice([5, 10, 12, 15, 20, 25, 30, 35, 40, 75]), rng.randint(2, 400) * 20
        return rng.choice([f"What is {p}% of {x}?", f"How much is {p} percent of {x}?"]), Fraction(p * x, 100)

    def price() -> tuple[str, Fraction]:
        price, k = rng.randint(3, 99), rng.randint(3, 40)
        if rng.random() < 0.5:
            return f"A notebook costs ${price}. How much do {k} notebooks cost?", Fraction(price * k)
        off = rng.choice([10, 20, 25, 50])
        cost = price * 4
        return f"A jacket costs ${cost} and is sold at {off}% off. What is the sale price?", Fraction(cost * (100 - off), 100)

    def total() -> tuple[str, Fraction]:
        xs = [rng.randint(100, 99999) for _ in range(rng.randint(3, 5))]
        return f"What is the sum of {', '.join(map(str, xs[:-1]))} and {xs[-1]}?", Fraction(sum(xs))

    def distance() -> tuple[str, Fraction]:
        v, t = rng.randint(30, 120), rng.randint(2, 14)
        return rng.choice([f"A train travels at {v} km per hour for {t} hours. How many km does it travel?",
                           f"A car drives {t} hours at {v} miles per hour. How far does it go, in miles?"]), Fraction(v * t)

    def average() -> tuple[str, Fraction]:
        xs = [rng.randint(10, 500) for _ in range(4)]
        while sum(xs) % 4:
            xs[0] += 1
        return f"What is the average of {', '.join(map(str, xs[:-1]))} and {xs[-1]}?", Fraction(sum(xs), 4)

    def difference() -> tuple[str, Fraction]:
        a, b = rng.randint(10**6, 10**9), rng.randint(10**3, 10**6)
        return rng.choice([f"What is {a} minus {b}?", f"Subtract {b} from {a}."]), Fraction(a - b)

    makers = [product, power, percent, price, total, distance, average, difference]
    out = []
    for i in range(n):
        q, a = makers[i % len(makers)]()
        out.append({"question": q, "answer": _fmt(a), "subtask": makers[i % len(makers)].__name__})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "examples/tasks/everyday_arithmetic.jsonl")
    args = ap.parse_args()
    rows = questions(args.n, args.seed)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} questions -> {args.out}")


if __name__ == "__main__":
    main()
