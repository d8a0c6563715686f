"""A radix tree over token ids: which sequence in KV already holds the longest prefix.

Each node stands for a run of tokens (its edge) and records the sequences whose tokens
cover the node's whole path from the root. Looking up a prompt walks down as far as the
tokens agree and returns how many tokens matched and one sequence that holds them.

    tree.insert(seq=3, tokens=[1, 5, 7, 9])
    tree.insert(seq=4, tokens=[1, 5, 8])
    tree.longest_prefix([1, 5, 7, 2])  -> (3, 3)      # [1, 5, 7] held by seq 3
    tree.longest_prefix([1, 5, 2])     -> (2, 3 or 4)

What it leaves out: KV cells and eviction policy (the engine decides what to insert,
remove and evict; this only answers prefix queries).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["RadixTree"]


class _Node:
    __slots__ = ("edge", "children", "seqs", "parent")

    def __init__(self, edge: tuple[int, ...], parent: _Node | None) -> None:
        self.edge = edge
        self.children: dict[int, _Node] = {}  # first token of child edge -> child
        self.seqs: set[int] = set()
        self.parent = parent


def _common(a: Sequence[int], b: Sequence[int], start: int) -> int:
    """Length of the common prefix of a and b[start:]: _common((1, 2, 3), [0, 1, 2, 9], 1) -> 2."""
    n = min(len(a), len(b) - start)
    i = 0
    while i < n and a[i] == b[start + i]:
        i += 1
    return i


class RadixTree:
    """Token-id prefixes of the sequences that are in KV."""

    def __init__(self) -> None:
        self._root = _Node((), None)
        self._paths: dict[int, tuple[int, ...]] = {}  # seq -> tokens indexed for it

    def __contains__(self, seq: int) -> bool:
        return seq in self._paths

    def __len__(self) -> int:
        return len(self._paths)

    def tokens_of(self, seq: int) -> tuple[int, ...]:
        return self._paths[seq]

    def insert(self, seq: int, tokens: Sequence[int]) -> None:
        """Index `seq` as holding `tokens` at positions 0..len-1 (replaces an older entry)."""
        if seq in self._paths:
            self.remove(seq)
        path = tuple(tokens)
        self._paths[seq] = path
        node, i = self._root, 0
        while i < len(path):
            child = node.children.get(path[i])
            if child is None:
                child = _Node(path[i:], node)
                node.children[path[i]] = child
                child.seqs.add(seq)
                return
            k = _common(child.edge, path, i)
            if k < len(child.edge):
                child = self._split(child, k)
            child.seqs.add(seq)
            node, i = child, i + k

    def remove(self, seq: int) -> None:
        """Forget `seq`; nodes no sequence covers any more are dropped."""
        path = self._paths.pop(seq, None)
        if path is None:
            return
        node, i = self._root, 0
        while i < len(path):
            child = node.children[path[i]]
            child.seqs.discard(seq)
            i += len(child.edge)
            if not child.seqs:
                del node.children[child.edge[0]]
                self._merge(node)
                return
            node = child
        self._merge(node)

    def longest_prefix(self, tokens: Sequence[int]) -> tuple[int, int | None]:
        """(matched length, a sequence holding tokens[:length]); (0, None) when none."""
        node, i, seq = self._root, 0, None
        while i < len(tokens):
            child = node.children.get(tokens[i])
            if child is None:
                break
            k = _common(child.edge, tokens, i)
            seq = next(iter(child.seqs))
            i += k
            if k < len(child.edge):
                break
            node = child
        return (i, seq) if seq is not None else (0, None)

    def total_tokens(self) -> int:
        """Distinct tokens stored: the sum of all edge lengths."""
        total, stack = 0, [self._root]
        while stack:
            node = stack.pop()
            total += len(node.edge)
            stack.extend(node.children.values())
        return total

    def _split(self, node: _Node, k: int) -> _Node:
        """Cut node's edge after k tokens; return the new upper node."""
        parent = node.parent
        assert parent is not None
        upper = _Node(node.edge[:k], parent)
        upper.seqs = set(node.seqs)
        parent.children[upper.edge[0]] = upper
        node.edge = node.edge[k:]
        node.parent = upper
        upper.children[node.edge[0]] = node
        return upper

    def _merge(self, node: _Node) -> None:
        """Join a node with its only child when both are covered by the same sequences."""
        if node is self._root or len(node.children) != 1:
            return
        (child,) = node.children.values()
        if child.seqs != node.seqs:
            return
        node.edge = node.edge + child.edge
        node.children = child.children
        for grandchild in node.children.values():
            grandchild.parent = node
