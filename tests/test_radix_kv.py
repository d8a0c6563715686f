"""The radix tree and the KV ledger on their own."""

from __future__ import annotations

import random

from islands.engine.kv import KVLedger
from islands.engine.radix import RadixTree


def test_longest_prefix_finds_the_holder() -> None:
    t = RadixTree()
    t.insert(3, [1, 5, 7, 9])
    t.insert(4, [1, 5, 8])
    assert t.longest_prefix([1, 5, 7, 2]) == (3, 3)
    length, seq = t.longest_prefix([1, 5, 2])
    assert length == 2 and seq in {3, 4}
    assert t.longest_prefix([1, 5, 8, 8]) == (3, 4)
    assert t.longest_prefix([2]) == (0, None)
    assert t.total_tokens() == 5  # 1 5 shared, then 7 9 and 8


def test_remove_prunes_and_merges() -> None:
    t = RadixTree()
    t.insert(1, [1, 2, 3, 4])
    t.insert(2, [1, 2, 9])
    t.remove(2)
    assert t.longest_prefix([1, 2, 9]) == (2, 1)
    assert t.total_tokens() == 4
    t.remove(1)
    assert t.longest_prefix([1, 2]) == (0, None)
    assert len(t) == 0 and t.total_tokens() == 0


def test_prefix_of_another_entry() -> None:
    t = RadixTree()
    t.insert(1, [1, 2, 3, 4, 5])
    t.insert(2, [1, 2, 3])
    assert t.longest_prefix([1, 2, 3, 4, 5, 6]) == (5, 1)
    t.remove(1)
    assert t.longest_prefix([1, 2, 3, 4]) == (3, 2)


def test_random_against_brute_force() -> None:
    rng = random.Random(7)
    t = RadixTree()
    held: dict[int, list[int]] = {}
    for step in range(400):
        if held and rng.random() < 0.3:
            seq = rng.choice(list(held))
            t.remove(seq)
            del held[seq]
        else:
            seq = rng.randrange(20)
            tokens = [rng.randrange(3) for _ in range(rng.randrange(1, 9))]
            t.insert(seq, tokens)
            held[seq] = tokens
        query = [rng.randrange(3) for _ in range(rng.randrange(1, 10))]
        best = 0
        for tokens in held.values():
            k = 0
            while k < min(len(tokens), len(query)) and tokens[k] == query[k]:
                k += 1
            best = max(best, k)
        length, seq_found = t.longest_prefix(query)
        assert length == best, (step, query, held)
        if length:
            assert held[seq_found][:length] == query[:length]


def test_ledger_counts_shared_cells_once() -> None:
    kv = KVLedger(100)
    kv.append(0, 5)
    kv.share(0, 1, 3)
    assert kv.used == 5
    assert kv.exclusive(0) == 2
    assert kv.drop(0) == 2  # cells 3 and 4 were only seq 0's
    assert kv.used == 3 and kv.free == 97
    kv.append(1, 2)
    assert kv.drop(1, 4) == 1
    assert kv.length(1) == 4
    assert kv.drop(1) == 4 and kv.used == 0
