"""Best-of-N with self-consistency on arithmetic word problems: N candidates that may call
CALC, answers extracted, the majority (verified answers count double) wins.

    python examples/self_consistency.py [--n 8] [--problems 5]
"""

from __future__ import annotations

import argparse
import sys

from islands import Engine
from islands.flows import ask
from islands.flows.bench import word_problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--problems", type=int, default=5)
    args = ap.parse_args()
    right = 0
    with Engine(n_ctx=4096) as engine:
        for question, answer in word_problems(args.problems, seed=1):
            result = ask(engine, question, n=args.n)
            ok = result.answer == str(answer)
            right += ok
            print(f"{'✓' if ok else '✗'} {question} -> {result.answer} (expected {answer}; votes {result.votes})")
    print(f"{right}/{args.problems} right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
