"""Words the generators draw from: prompt categories with their topic words, tags, filler, and a
seeded vocabulary of rare made-up words (Zipf-distributed) that makes titles searchable."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The category list of a typical prompt library, each with words its prompts use often.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "writing": (
        "essay", "outline", "paragraph", "headline", "draft", "tone", "blog", "story", "rewrite",
        "summary", "narrative", "edit", "proofread", "article", "style", "voice", "clarity",
    ),
    "coding": (
        "python", "function", "refactor", "debug", "api", "database", "query", "test", "regex",
        "algorithm", "typescript", "docker", "review", "bug", "endpoint", "schema", "script",
    ),
    "marketing": (
        "campaign", "audience", "brand", "slogan", "funnel", "newsletter", "seo", "landing",
        "conversion", "persona", "launch", "social", "advert", "pitch", "positioning", "copy",
    ),
    "education": (
        "lesson", "quiz", "student", "curriculum", "tutor", "exam", "explain", "flashcard",
        "syllabus", "lecture", "homework", "grade", "concept", "exercise", "teacher", "course",
    ),
    "data-analysis": (
        "dataset", "chart", "regression", "pandas", "sql", "metric", "dashboard", "forecast",
        "outlier", "correlation", "pivot", "visualize", "statistics", "cohort", "trend", "spreadsheet",
    ),
    "customer-support": (
        "ticket", "refund", "apology", "escalation", "faq", "customer", "reply", "complaint",
        "order", "shipping", "account", "troubleshoot", "policy", "satisfaction", "chat", "agent",
    ),
    "research": (
        "paper", "hypothesis", "citation", "literature", "abstract", "method", "experiment",
        "survey", "findings", "review", "evidence", "sources", "analysis", "journal", "theory",
    ),
    "productivity": (
        "schedule", "meeting", "agenda", "priorities", "checklist", "email", "planner", "habit",
        "goals", "notes", "weekly", "focus", "task", "calendar", "workflow", "template",
    ),
    "creative": (
        "poem", "lyrics", "character", "plot", "worldbuilding", "dialogue", "scene", "fantasy",
        "screenplay", "riddle", "haiku", "villain", "adventure", "myth", "comic", "sketch",
    ),
    "translation": (
        "translate", "spanish", "french", "german", "japanese", "idiom", "localize", "grammar",
        "fluent", "phrase", "vocabulary", "pronunciation", "dialect", "subtitle", "literal",
    ),
    "legal": (
        "contract", "clause", "liability", "compliance", "privacy", "terms", "agreement",
        "license", "gdpr", "dispute", "policy", "notice", "regulation", "jurisdiction", "nda",
    ),
    "health": (
        "nutrition", "workout", "sleep", "meditation", "recipe", "symptoms", "wellness", "diet",
        "fitness", "stress", "routine", "calories", "stretching", "hydration", "mindfulness",
    ),
}  # fmt: skip

CATEGORIES: tuple[str, ...] = tuple(CATEGORY_WORDS)

# What a prompt's title says it is ("SEO Landing Page Writer").
ROLES: tuple[str, ...] = (
    "assistant", "generator", "planner", "helper", "writer", "analyzer", "coach", "expert",
    "translator", "reviewer", "advisor", "builder", "tutor", "optimizer", "explainer",
)  # fmt: skip

GENERAL_TAGS: tuple[str, ...] = (
    "gpt-4", "claude", "beginner", "advanced", "template", "business", "personal", "quick",
    "long-form", "step-by-step", "checklist", "roleplay", "brainstorm", "formal", "casual",
    "structured-output", "json", "markdown", "few-shot", "chain-of-thought",
)  # fmt: skip

# Words of ordinary instructions; most are text-index stop words or very common.
FILLER: tuple[str, ...] = (
    "the", "a", "an", "and", "or", "to", "of", "for", "in", "on", "with", "your", "my", "that",
    "this", "is", "are", "be", "it", "as", "by", "from", "please", "write", "create", "give",
    "make", "use", "list", "provide", "include", "keep", "short", "clear", "simple", "detailed",
    "each", "every", "three", "five", "examples", "steps", "ideas", "points", "format", "answer",
    "question", "user", "should", "must", "will", "can", "you", "me", "what", "how", "why",
    "when", "about", "into", "then", "also", "only", "more", "best", "new", "good", "help",
)  # fmt: skip

ACT_AS = "i want you to act as"

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gl", "k", "l", "m", "n", "p", "pr", "qu", "r",
           "s", "st", "t", "tr", "v", "z", "th", "sh", "x")  # fmt: skip
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ea", "y")
_CODAS = ("", "n", "r", "s", "x", "l", "m", "nt", "rk", "sk", "v", "th")


@dataclass(frozen=True)
class RareWords:
    """Made-up words with Zipf popularity: the few common ones behave like jargon, the long tail
    like names, so a title's rarest words pick it out of the corpus."""

    words: tuple[str, ...]
    cdf: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> list[str]:
        idx = np.searchsorted(self.cdf, rng.random(n), side="right")
        return [self.words[i] for i in idx]


def zipf_cdf(n: int, s: float) -> np.ndarray:
    """Cumulative probabilities of a finite Zipf law over ranks 1..n with exponent s."""
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


def rare_words(seed: int, n: int = 4000, s: float = 1.0) -> RareWords:
    rng = np.random.default_rng([seed, 0x57])
    seen: dict[str, None] = {}
    # Bounded: each round adds at least one new word with overwhelming probability.
    for _ in range(n * 20):
        if len(seen) >= n:
            break
        syllables = int(rng.integers(2, 4))
        word = "".join(
            _ONSETS[rng.integers(len(_ONSETS))] + _NUCLEI[rng.integers(len(_NUCLEI))]
            for _ in range(syllables)
        )
        word += _CODAS[rng.integers(len(_CODAS))]
        if word not in seen and len(word) >= 5:
            seen[word] = None
    words = tuple(seen)
    return RareWords(words, zipf_cdf(len(words), s))
