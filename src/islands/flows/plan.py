"""Plan ahead (the seed's rhyme planning): choose the targets first — the ending words —
then write each line so that it ends at its target (a grammar forces the ending), then
arrange the lines in a rhyme scheme (AABB, ABAB, ABBA, …).

    poem = plan_ahead(engine, "the sea at night", scheme="AABB")
    print(poem.text)

What it leaves out: meter; rhyme is judged by spelling (shared endings), not sound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from islands.engine.protocol import Generator, require
from islands.errors import InvalidInput
from islands.grammar import Grammar
from islands.params import SamplingParams

__all__ = ["Poem", "arrange", "plan_ahead", "rhymes"]


def rhymes(a: str, b: str) -> bool:
    """Spelling rhyme: different words sharing their last vowel group and what follows.
    rhymes("night", "light") -> True; rhymes("sea", "sea") -> False; rhymes("sea", "moon") -> False"""
    a, b = a.lower().strip(), b.lower().strip()
    if not a or not b or a == b:
        return False
    tail = re.compile(r"[aeiouy]+[^aeiouy]*$")
    ta, tb = tail.search(a), tail.search(b)
    return bool(ta and tb and ta.group() == tb.group())


def arrange(groups: dict[str, list[str]], scheme: str) -> list[str]:
    """Lines in the order of `scheme`, taking each letter's lines in turn.
    arrange({"A": ["a1", "a2"], "B": ["b1", "b2"]}, "ABAB") -> ["a1", "b1", "a2", "b2"]"""
    taken = dict.fromkeys(groups, 0)
    out = []
    for letter in scheme:
        if letter not in groups or taken[letter] >= len(groups[letter]):
            raise InvalidInput(f"scheme {scheme!r} needs more {letter!r} lines than were planned")
        out.append(groups[letter][taken[letter]])
        taken[letter] += 1
    return out


@dataclass
class Poem:
    theme: str
    scheme: str
    targets: dict[str, list[str]]  # rhyme letter -> ending words
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _words(engine: Generator, prompt: str) -> list[str]:
    """Whole words the model expects next, most likely first: its top next tokens that are
    a space and 3+ letters (one token each, so never a glued-together non-word)."""
    out = engine.generate(prompt, params=SamplingParams(max_tokens=1, temperature=0, logprobs=20)).outputs[0]
    assert out.logprobs is not None
    candidates = [out.logprobs[0].text, *(text for text, _ in out.logprobs[0].top)]
    return list(dict.fromkeys(w.strip().lower() for w in candidates if re.fullmatch(r" [A-Za-z]{3,12}", w)))


# words that end lines badly: a poem's targets should carry meaning
_FUNCTION_WORDS = {"what", "that", "this", "these", "those", "with", "from", "into", "than", "then", "there", "their", "they", "them",
                   "when", "where", "which", "while", "have", "been", "were", "will", "would", "could", "should", "about", "after",
                   "before", "because", "very", "just", "also", "only"}

_LINE = """Lines of a poem about {theme}, each ending with the given word.
Ends with "light": The harbour sleeps beneath the silver light
Ends with "sea": The wind is singing softly to the sea
Ends with "{word}":"""


def plan_ahead(engine: Generator, theme: str, *, scheme: str = "AABB", seed: int = 1) -> Poem:
    """A poem whose line endings were chosen before the lines were written (any engine
    with log-probabilities and grammars: no branches needed)."""
    require(engine, "logprobs", "grammar")
    if not re.fullmatch(r"[A-Z]{2,12}", scheme):
        raise InvalidInput(f"invalid scheme {scheme!r}: capital letters, e.g. AABB or ABAB")
    if not theme.strip():
        raise InvalidInput("the theme is empty")
    need = {letter: scheme.count(letter) for letter in dict.fromkeys(scheme)}
    targets: dict[str, list[str]] = {}
    used: set[str] = set()
    likely = _words(engine, f"Words about {theme}:") + _words(engine, f"A poem about {theme}. The last word of the first line is")
    firsts = [w for w in likely if len(w) > 3 and w not in _FUNCTION_WORDS]
    for letter, count in need.items():
        for first in firsts:
            if first in used or any(rhymes(first, w) for w in used):  # another letter's rhyme
                continue
            pool = _words(engine, f"Words that rhyme with {first}: {first},") + _words(engine, f"{first.capitalize()} rhymes with")
            rhyming = list(dict.fromkeys(w for w in pool if rhymes(first, w) and w not in used))
            if len(rhyming) >= count - 1:
                targets[letter] = [first, *rhyming[: count - 1]]
                used.update(targets[letter])
                break
        if letter not in targets:
            raise InvalidInput(f"found no {count} rhyming words for {theme!r}")
    groups: dict[str, list[str]] = {}
    for letter, words in targets.items():
        branches = []
        for i, word in enumerate(words):
            line_grammar = Grammar.regex(rf" [A-Z][a-z]{{0,11}}( [a-z,']{{1,12}}){{3,7}} {re.escape(word)}")
            prompt = _LINE.format(theme=theme, word=word)
            params = SamplingParams(max_tokens=48, temperature=0.8, seed=seed + i)
            branches.append((word, engine.generate(prompt, params=params, grammar=line_grammar).text.strip()))
        groups[letter] = [line for _, line in branches]
    return Poem(theme, scheme, targets, arrange(groups, scheme))
