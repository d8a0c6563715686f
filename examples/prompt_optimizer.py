"""Optimize the instruction of a small sentiment classifier on a dev set: the model writes
better instructions, accuracy (a grammar forces " positive" or " negative") decides.
With --self, the improver's own instruction is optimized too.

    python examples/prompt_optimizer.py [--iterations 3] [--self]
"""

from __future__ import annotations

import argparse
import sys

from islands import Engine, SamplingParams
from islands.grammar import Grammar
from islands.flows.optimize import optimize, self_optimize

DEV = [
    ("I loved this film", " positive"), ("Terrible and boring", " negative"), ("What a great day", " positive"),
    ("I hate waiting in the rain", " negative"), ("The food was delicious", " positive"), ("It broke after a day", " negative"),
]
LABELS = Grammar.choice([" positive", " negative"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--self", dest="self_", action="store_true", help="also optimize the improver")
    args = ap.parse_args()
    with Engine(n_ctx=4096) as engine:

        def accuracy(instruction: str) -> float:
            hits = 0
            for text, label in DEV:
                out = engine.generate(f"{instruction}\nText: {text}\nSentiment:", params=SamplingParams(temperature=0, max_tokens=2), grammar=LABELS)
                hits += out.text == label
            return hits / len(DEV)

        task = "Classify the sentiment of a text as positive or negative."
        if args.self_:
            result = self_optimize(engine, task, "Sentiment?", accuracy, rounds=args.iterations, n=3)
        else:
            result = optimize(engine, task, "Sentiment?", accuracy, iterations=args.iterations, n=4)
    for it, score, best in result.history:
        print(f"{it}\t{score:.2f}\t{best}")
    print(f"best: {result.best!r} (accuracy {result.score:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
