"""A rhyming poem planned ahead: the ending words first, then lines forced to end at them,
then arranged in the rhyme scheme.

    python examples/rhyming_poem.py "the sea at night" [--scheme ABAB]
"""

from __future__ import annotations

import argparse
import sys

from islands import Engine
from islands.flows.plan import plan_ahead


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("theme")
    ap.add_argument("--scheme", default="AABB")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with Engine(n_ctx=4096) as engine:
        poem = plan_ahead(engine, args.theme, scheme=args.scheme, seed=args.seed)
    print(f"# targets: {poem.targets}", file=sys.stderr)
    print(poem.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
