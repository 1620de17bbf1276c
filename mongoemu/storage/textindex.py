"""Text indexes as mongod builds them (textIndexVersion 3) and `$text` search over them.

Scoring follows mongod's FTSSpec::_scoreStringV2: for each string value of a weighted field,
terms are lower-cased, stop words dropped, the rest stemmed with Snowball (the libstemmer that
mongod links, through PyStemmer); a term seen `c` times among `n` terms of that string scores
`weight * (2 - 2**(1 - c)) * (0.5 * c / n + 0.5)`, times 1.1 when the whole string is that
term. A document's score for a query is the sum of its scores for the query's distinct terms.

Approximations, all documented in docs/architecture.md: tokens are runs of Unicode letters and
digits (plus inner apostrophes in English) rather than mongod's generated delimiter table;
only English has a stop-word list; `$caseSensitive` is applied to phrases only.

Postings are kept compactly, per term one array of record ids and one of score ids, appended
in record-id order. Record ids are never reused (an updated document gets a new one), so deleted
documents are dropped lazily: their stale postings are skipped at query time and purged when
they outnumber live ones.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import Stemmer

from mongoemu.errors import CommandError
from mongoemu.storage.stopwords import ENGLISH

WILDCARD = "$**"
MAX_WORD_WEIGHT = 100_000

# mongod's language names and their two-letter codes, mapped to Snowball's algorithm names.
LANGUAGES = {
    "danish": "danish", "da": "danish",
    "dutch": "dutch", "nl": "dutch",
    "english": "english", "en": "english",
    "finnish": "finnish", "fi": "finnish",
    "french": "french", "fr": "french",
    "german": "german", "de": "german",
    "hungarian": "hungarian", "hu": "hungarian",
    "italian": "italian", "it": "italian",
    "norwegian": "norwegian", "nb": "norwegian",
    "portuguese": "portuguese", "pt": "portuguese",
    "romanian": "romanian", "ro": "romanian",
    "russian": "russian", "ru": "russian",
    "spanish": "spanish", "es": "spanish",
    "swedish": "swedish", "sv": "swedish",
    "turkish": "turkish", "tr": "turkish",
    "none": "none",
}  # fmt: skip

_ENGLISH_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_TOKEN = re.compile(r"[^\W_]+")
_TERM_CACHE = 200_000
_PHRASE = re.compile(r'(-?)"([^"]*)"?')


def language_name(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LANGUAGES:
        raise CommandError(17262, f"language override unsupported: {value}", code_name="Location17262")
    return LANGUAGES[value.lower()]


def _strip_diacritics(word: str) -> str:
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


class Analyzer:
    """Tokenizer, stop words and stemmer of one language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._pattern = _ENGLISH_TOKEN if language == "english" else _TOKEN
        self._stop = ENGLISH if language == "english" else frozenset()
        self._stemmer = None if language == "none" else Stemmer.Stemmer(language)
        # word -> term (None: stop word); real text draws most words from a small vocabulary.
        self._terms: dict[str, str | None] = {}

    def terms(self, text: str) -> list[str]:
        cache = self._terms
        out = []
        for word in self._pattern.findall(text.lower()):
            term = cache.get(word, "")
            if term == "":
                term = cache[word] = self._term(word)
                if len(cache) > _TERM_CACHE:
                    cache.clear()
            if term is not None:
                out.append(term)
        return out

    def _term(self, word: str) -> str | None:
        """A lower-cased word's index term, None for a stop word."""
        if word in self._stop:
            return None
        if self._stemmer is not None:
            word = self._stemmer.stemWord(word)
        return _strip_diacritics(word)


@cache
def analyzer(language: str) -> Analyzer:
    return Analyzer(language)


def score_string(raw: str, weight: float, lang: Analyzer, scores: dict[str, float]) -> None:
    terms = lang.terms(raw)
    if not terms:
        return
    n = len(terms)
    for term, c in Counter(terms).items():
        freq = 2.0 - 2.0 ** (1 - c)
        coeff = 0.5 * c / n + 0.5
        adjustment = 1.1 if len(raw) == len(term) and raw.lower() == term else 1.0
        scores[term] = scores.get(term, 0.0) + weight * freq * coeff * adjustment


@dataclass(frozen=True, slots=True)
class TextSpec:
    """The parts of a text index definition that decide how documents are scored."""

    weights: dict[str, float]
    default_language: str = "english"
    language_override: str = "language"

    @property
    def wildcard(self) -> bool:
        return WILDCARD in self.weights

    def strings(self, doc: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
        """(text, weight) for every string the index covers, array elements one by one."""
        if self.wildcard:
            yield from self._all_strings(doc, "")
            return
        for path, weight in self.weights.items():
            for value in _values(doc, path.split(".")):
                if isinstance(value, str):
                    yield value, weight

    def _all_strings(self, value: Any, prefix: str) -> Iterator[tuple[str, float]]:
        if isinstance(value, str):
            yield value, self.weights.get(prefix, self.weights[WILDCARD])
        elif isinstance(value, Mapping):
            for k, v in value.items():
                yield from self._all_strings(v, f"{prefix}.{k}" if prefix else k)
        elif isinstance(value, list):
            for v in value:
                yield from self._all_strings(v, prefix)

    def language_of(self, doc: Mapping[str, Any]) -> str:
        value = doc.get(self.language_override)
        return self.default_language if value is None else language_name(value)

    def score_document(self, doc: Mapping[str, Any]) -> dict[str, float]:
        lang = analyzer(self.language_of(doc))
        scores: dict[str, float] = {}
        for text, weight in self.strings(doc):
            score_string(text, weight, lang, scores)
        return scores


def _values(value: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _values(item, parts)
        return
    if not parts:
        yield value
        return
    if isinstance(value, Mapping) and parts[0] in value:
        yield from _values(value[parts[0]], parts[1:])


@dataclass(slots=True)
class TextQuery:
    """A parsed `$text` operand: terms are stemmed, phrases kept as typed."""

    terms: set[str] = field(default_factory=set)
    negated_terms: set[str] = field(default_factory=set)
    phrases: list[str] = field(default_factory=list)
    negated_phrases: list[str] = field(default_factory=list)
    case_sensitive: bool = False

    @classmethod
    def parse(cls, operand: Any, default_language: str) -> TextQuery:
        if not isinstance(operand, Mapping):
            raise CommandError(2, "$text expects an object")
        search = operand.get("$search")
        if not isinstance(search, str):
            raise CommandError(2, "$search required and must be a string")
        unknown = set(operand) - {"$search", "$language", "$caseSensitive", "$diacriticSensitive"}
        if unknown:
            raise CommandError(2, f"unknown operator {sorted(unknown)[0]} in $text")
        language = default_language
        if "$language" in operand:
            language = language_name(operand["$language"])
        case_sensitive = bool(operand.get("$caseSensitive", False))
        if not isinstance(operand.get("$caseSensitive", False), bool):
            raise CommandError(14, "$caseSensitive requires a boolean value")
        lang = analyzer(language)
        query = cls(case_sensitive=case_sensitive)
        rest = []
        pos = 0
        for m in _PHRASE.finditer(search):
            rest.append(search[pos : m.start()])
            pos = m.end()
            phrase = m.group(2)
            (query.negated_phrases if m.group(1) else query.phrases).append(phrase)
            if not m.group(1):
                query.terms.update(lang.terms(phrase))
        rest.append(search[pos:])
        for word in " ".join(rest).split():
            if word.startswith("-") and len(word) > 1:
                query.negated_terms.update(lang.terms(word[1:]))
            else:
                query.terms.update(lang.terms(word))
        return query

    def phrases_match(self, texts: Iterable[str]) -> bool:
        if not self.phrases and not self.negated_phrases:
            return True
        body = "\n".join(texts)
        if not self.case_sensitive:
            body = body.lower()

        def found(p: str) -> bool:
            return (p if self.case_sensitive else p.lower()) in body

        return all(found(p) for p in self.phrases) and not any(found(p) for p in self.negated_phrases)


class TextIndex:
    """Postings of one text index: term -> (record ids, score ids). Scores repeat a lot (they
    depend on a term's count, the string's length and the field's weight), so each distinct
    score is stored once, exactly, and postings refer to it with 2 bytes (4 past 65,536
    distinct scores)."""

    def __init__(self, spec: TextSpec) -> None:
        self.spec = spec
        self._postings: dict[str, tuple[array[int], array[int]]] = {}
        self._score_ids: dict[float, int] = {}
        self._scores = array("d")
        self._id_type = "H"
        self._live = 0
        self._stale = 0

    def _score_id(self, score: float) -> int:
        sid = self._score_ids.get(score)
        if sid is None:
            sid = self._score_ids[score] = len(self._scores)
            self._scores.append(score)
            if sid == 1 << 16 and self._id_type == "H":
                self._id_type = "I"
                for term, (rids, ids) in self._postings.items():
                    self._postings[term] = (rids, array("I", ids))
        return sid

    def add(self, rid: int, doc: Mapping[str, Any]) -> None:
        for term, score in self.spec.score_document(doc).items():
            sid = self._score_id(score)
            lists = self._postings.get(term)
            if lists is None:
                lists = self._postings[term] = (array("I"), array(self._id_type))
            lists[0].append(rid)
            lists[1].append(sid)
        self._live += 1

    def discard(self, live: Callable[[], Iterable[int]]) -> None:
        """Forget one record lazily; once stale postings outnumber live documents, purge them
        (`live` lists the live record ids)."""
        self._live -= 1
        self._stale += 1
        if self._stale > max(1000, self._live):
            self._purge(live())

    def _purge(self, live: Iterable[int]) -> None:
        ids = np.fromiter(live, dtype=np.int64)
        alive = np.zeros(int(ids.max()) + 2 if len(ids) else 1, dtype=bool)
        alive[ids] = True
        last = len(alive) - 1  # always False: where record ids beyond the table point
        for term in list(self._postings):
            rids, sids = self._postings[term]
            r = np.array(rids, dtype=np.uint32)
            keep = alive[np.minimum(r, last)]
            if not keep.any():
                del self._postings[term]
            elif not keep.all():
                kept_sids = np.array(sids, dtype=np.dtype(sids.typecode))[keep]
                self._postings[term] = (
                    array("I", r[keep].tobytes()),
                    array(sids.typecode, kept_sids.tobytes()),
                )
        self._stale = 0

    def search(self, query: TextQuery) -> list[tuple[int, float]]:
        """(record id, score) of records that contain a query term and no negated term, best
        first (ties by record id). Deleted records may still be listed; callers skip them."""
        found = [self._postings[t] for t in query.terms if t in self._postings]
        if not found:
            return []
        # Copies, not views: an array exporting its buffer could not grow.
        table = np.array(self._scores, dtype=np.float64)
        rids = np.concatenate([np.array(r, dtype=np.uint32) for r, _ in found])
        scores = table[np.concatenate([np.array(i, dtype=np.dtype(i.typecode)) for _, i in found])]
        unique, inverse = np.unique(rids, return_inverse=True)
        totals = np.bincount(inverse, weights=scores)
        negated = [self._postings[t][0] for t in query.negated_terms if t in self._postings]
        if negated:
            keep = ~np.isin(unique, np.concatenate([np.array(r, dtype=np.uint32) for r in negated]))
            unique, totals = unique[keep], totals[keep]
        order = np.lexsort((unique, -totals))
        return list(zip(unique[order].tolist(), totals[order].tolist(), strict=True))
