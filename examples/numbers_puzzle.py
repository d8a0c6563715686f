"""Make a target from four numbers with + - * /: the model proposes steps (constrained to
the numbers on the table), CALC computes each exact result, search backtracks. Dead ends are
judged by the model itself (default), or by an exhaustive check (`--judge oracle`: then the
computer, not the model, is what solves it).

    python examples/numbers_puzzle.py 1 7 9 11 [--target 24] [--tries 3] [--judge model|oracle|none]
        [--strategy best_first|beam|mcts]
"""

from __future__ import annotations

import argparse
import sys

from islands import Engine
from islands.flows.puzzle import JUDGES, brute_force, solve
from islands.flows.search import STRATEGIES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("numbers", type=int, nargs=4)
    ap.add_argument("--target", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tries", type=int, default=3, help="searches with seeds seed, seed+1, ...")
    ap.add_argument("--judge", choices=JUDGES, default="model", help="who judges dead ends")
    ap.add_argument("--strategy", choices=STRATEGIES, default="best_first")
    args = ap.parse_args()
    if not brute_force(args.numbers, args.target):
        print(f"error: {args.numbers} cannot make {args.target}", file=sys.stderr)
        return 2
    solved = None
    with Engine(n_ctx=4096) as engine:
        for seed in range(args.seed, args.seed + args.tries):
            solved = solve(engine, args.numbers, args.target, seed=seed, judge=args.judge, strategy=args.strategy)
            if solved is not None:
                break
    if solved is None:
        print("no solution found within the search budget")
        return 1
    for step in solved.steps:
        print(step)
    tree = solved.result
    print(f"# {tree.explored} nodes explored, {tree.prefill_per_node:.1f} tokens prefilled per node", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
