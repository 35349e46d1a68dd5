"""Tone of a message: VADER's compound score, computed for a whole column at once.

VADER (Hutto & Gilbert, 2014; the `vaderSentiment` package) is a lexicon and rule-based
sentiment model made for social-media text: it knows slang ("sux"), initialisms ("lol"),
emoticons (":)") and, through its emoji lexicon, emoji (each emoji is replaced by its
description, e.g. "smiling face with heart-eyes", whose words are then scored). Its
`compound` score is the normalized sum of the word valences, in [-1, 1].

`SentimentIntensityAnalyzer().polarity_scores` costs 30-100 µs per message in Python
(longer texts cost more), up to minutes per million messages, so `ToneScorer` reproduces its `compound` with
array operations over the package's own lexicons (loaded from the installed
`vaderSentiment`, nothing copied):

* text: emoji replaced by their descriptions (`str.translate`, only for non-ASCII
  messages), split on whitespace, each token stripped of ASCII punctuation unless that
  leaves two characters or fewer (pyarrow compute kernels, one pass over all tokens);
* per token: lower-cased vocabulary id, ALL-CAPS flag, negation flag (VADER's `NEGATE`
  list or "n't"); per message: whether only some tokens are in capitals;
* for each token in the lexicon (numpy, one vector per rule, in VADER's order): its
  valence, "no" before or after it, capitals emphasis, the boosters and dampeners up to
  three words back (damped by distance, signed by the running valence), negation up to
  three words back, VADER's "never so/this" emphasis and its "least" negation; then the
  contrastive "but" (valences before the first "but" halved, after it increased by
  half), the sum per message, the "!" and "?" emphasis, and the normalization
  s / sqrt(s^2 + 15), rounded to 4 places like the library.

A message that holds a rule too intricate to vectorize honestly is routed to the
library's own `polarity_scores`: VADER's idioms and multi-word boosters ("kind of", "sort
of", "just enough", "yeah right", "the shit", ...; found by any two adjacent words of a
phrase in the package's own `SPECIAL_CASES` and `BOOSTER_DICT`), and the rare "but"
message where the library's search by value (`list.index`) rescales a value twice. A
message with no lexicon token scores 0 without further work. Equality with
`polarity_scores(text)["compound"]` is proven in the unit tests and the benchmark
(`benchmarks/bench_tone_topic.py`: every message of a generated million plus adversarial
cases; 0.03 % of the generated messages routed there).

Labels use VADER's documented thresholds: positive when compound >= 0.05, negative when
<= -0.05, neutral in between.

Limits: VADER is English only (other languages mostly score 0, i.e. neutral); it reads
words, not intent, so sarcasm and irony get the literal polarity; it scores anonymized
text, whose pseudonyms and "<ENTITY>" placeholders carry no valence; a short chat
message often has no lexicon word at all and is neutral.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from vaderSentiment import vaderSentiment as _vader

TONE_LABELS = ("positive", "neutral", "negative")
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05

# Words whose rules read neighbours the vectorized path needs to recognize by id.
_RULE_WORDS = (
    "no", "or", "nor", "so", "this", "never", "without", "doubt", "but", "least", "at", "very",
)  # fmt: skip


@dataclass(frozen=True)
class ToneScores:
    """Per message: VADER's compound score and whether the library's scorer computed it."""

    compound: np.ndarray  # float64, in [-1, 1], rounded to 4 places like VADER's
    routed: np.ndarray  # bool: scored by vaderSentiment's own polarity_scores

    @property
    def labels(self) -> np.ndarray:
        return tone_labels(self.compound)


def tone_labels(compound: np.ndarray | Sequence[float]) -> np.ndarray:
    """VADER's documented labels: positive >= 0.05, negative <= -0.05, neutral between."""
    scores = np.asarray(compound, dtype="float64")
    return np.where(
        scores >= POSITIVE_THRESHOLD,
        "positive",
        np.where(scores <= NEGATIVE_THRESHOLD, "negative", "neutral"),
    ).astype(object)


class ToneScorer:
    """VADER's compound score for many messages at once, equal to the library's own."""

    def __init__(self) -> None:
        self.analyzer = _vader.SentimentIntensityAnalyzer()
        lexicon: dict[str, float] = self.analyzer.lexicon
        boosters = {w: v for w, v in _vader.BOOSTER_DICT.items() if " " not in w}
        words = list(
            dict.fromkeys([*lexicon, *boosters, *_vader.NEGATE, *_RULE_WORDS, *_phrase_words()])
        )
        self._vocab = {word: index for index, word in enumerate(words)}
        self._vocab_array = pa.array(words, type=pa.string())
        size = len(words) + 1  # the last slot stands for "not in the vocabulary"
        self._in_lexicon = np.zeros(size, dtype=bool)
        self._valence = np.zeros(size, dtype="float64")
        self._is_booster = np.zeros(size, dtype=bool)
        self._booster = np.zeros(size, dtype="float64")
        self._negates = np.zeros(size, dtype=bool)
        for word, index in self._vocab.items():
            if word in lexicon:
                self._in_lexicon[index] = True
                self._valence[index] = lexicon[word]
            if word in boosters:
                self._is_booster[index] = True
                self._booster[index] = boosters[word]
            self._negates[index] = _vader.negated([word])
        # A booster is scored 0 itself, never as a lexicon word.
        self._scored = self._in_lexicon & ~self._is_booster
        self._missing = len(words)
        self._id = {word: self._vocab[word] for word in _RULE_WORDS}
        self._routed_pairs = np.array(
            sorted({self._vocab[a] * size + self._vocab[b] for a, b in _phrase_pairs()}),
            dtype="int64",
        )
        self._size = size
        # Only single characters can match: VADER replaces emoji one code point at a time.
        self._emoji_table = {
            ord(emoji): " " + description
            for emoji, description in self.analyzer.emojis.items()
            if len(emoji) == 1
        }

    # -- public -------------------------------------------------------------------------

    def compound(self, texts: Iterable[str | None]) -> np.ndarray:
        """VADER's compound score per message (0.0 for a missing or empty text)."""
        return self.score(texts).compound

    def score(self, texts: Iterable[str | None]) -> ToneScores:
        """Compound scores, and which messages the library's own scorer handled."""
        text = as_text_array(texts)
        n = len(text)
        compound = np.zeros(n, dtype="float64")
        routed = np.zeros(n, dtype=bool)
        if n == 0:
            return ToneScores(compound, routed)
        plain = self._replace_emoji(text)
        tokens = _Tokens.of(plain, self)
        if tokens.size == 0:
            return ToneScores(compound, routed)
        candidates = np.flatnonzero(self._scored[tokens.ids])
        if candidates.size == 0:
            return ToneScores(compound, routed)
        has_lexicon_word = np.zeros(n, dtype=bool)
        has_lexicon_word[tokens.message[candidates]] = True
        routed = self._phrase_messages(tokens, n) & has_lexicon_word
        positions = candidates[~routed[tokens.message[candidates]]]
        valence = self._token_valences(tokens, positions)
        valence, collided = self._but_check(tokens, positions, valence, n)
        routed |= collided
        kept = ~collided[tokens.message[positions]]
        sums = np.bincount(tokens.message[positions[kept]], weights=valence[kept], minlength=n)
        vectorized = has_lexicon_word & ~routed
        compound[vectorized] = _normalize(
            sums[vectorized], _punctuation_emphasis(plain)[vectorized]
        )
        if routed.any():
            texts_routed = text.filter(pa.array(routed)).to_pylist()
            compound[routed] = [self.analyzer.polarity_scores(t)["compound"] for t in texts_routed]
        return ToneScores(compound, routed)

    # -- steps --------------------------------------------------------------------------

    def _replace_emoji(self, text: pa.Array) -> pa.Array:
        """VADER's emoji-to-description pass; only non-ASCII messages can hold an emoji.

        The library inserts a space before a description unless one precedes it; always
        inserting one yields the same tokens and the same punctuation counts.
        """
        non_ascii = pc.invert(pc.string_is_ascii(text))
        if not pc.any(non_ascii).as_py():
            return text
        replaced = [t.translate(self._emoji_table) for t in text.filter(non_ascii).to_pylist()]
        return pc.replace_with_mask(text, non_ascii, pa.array(replaced, type=pa.string()))

    def _phrase_messages(self, tokens: _Tokens, n: int) -> np.ndarray:
        """Messages holding two adjacent words of one of VADER's multi-word phrases."""
        ids = tokens.ids
        follows = tokens.position[1:] > 0  # token j+1 follows token j in the same message
        pair = ids[:-1].astype("int64") * self._size + ids[1:]
        in_pair = np.isin(pair, self._routed_pairs) & follows
        routed = np.zeros(n, dtype=bool)
        routed[tokens.message[1:][in_pair]] = True
        return routed

    def _but_check(
        self, tokens: _Tokens, j: np.ndarray, valence: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """VADER's `_but_check`: halve the valences before the first "but", add half after.

        The library finds each value's position with `list.index`, i.e. the first equal
        value: when an already rescaled earlier value equals a later original one, it
        rescales the earlier one again. Messages where that happens are returned as
        collided (for the library's scorer); the others get the plain rescaling.
        """
        collided = np.zeros(n, dtype=bool)
        is_but = tokens.ids == self._id["but"]
        if not is_but.any():
            return valence, collided
        but_messages, first = np.unique(tokens.message[is_but], return_index=True)
        first_but = np.full(n, -1, dtype="int64")
        first_but[but_messages] = tokens.position[is_but][first]
        message = tokens.message[j]
        i = tokens.position[j]
        but_at = first_but[message]
        has_but = but_at >= 0
        factor = np.where(i < but_at, 0.5, np.where(i > but_at, 1.5, 1.0))
        rescaled = np.where(has_but, valence * factor, valence)
        involved = has_but & (valence != 0)
        if involved.any():
            rows = pd.DataFrame(
                {"message": message[involved], "i": i[involved], "new": rescaled[involved]}
            )
            originals = pd.DataFrame(
                {"message": message[involved], "i": i[involved], "new": valence[involved]}
            )
            pairs = rows.merge(originals, on=["message", "new"], suffixes=("_earlier", "_later"))
            clash = pairs["i_earlier"] < pairs["i_later"]
            collided[pairs.loc[clash, "message"].to_numpy()] = True
        return rescaled, collided

    def _token_valences(self, tokens: _Tokens, j: np.ndarray) -> np.ndarray:
        """VADER's `sentiment_valence` for the lexicon tokens at flat positions `j`."""
        ids, position = tokens.ids, tokens.position
        i = position[j]
        last = tokens.length[tokens.message[j]] - 1

        def before(k: int) -> np.ndarray:
            """Vocabulary id of the word k places back (the missing id at the start)."""
            return np.where(i >= k, ids[np.maximum(j - k, 0)], self._missing)

        base = self._valence[ids[j]]
        valence = base.copy()
        no, nor, orr = self._id["no"], self._id["nor"], self._id["or"]
        after = np.where(i < last, ids[np.minimum(j + 1, ids.size - 1)], self._missing)
        valence[(ids[j] == no) & (i < last) & self._in_lexicon[after]] = 0.0
        w1, w2, w3 = before(1), before(2), before(3)
        no_before = (w1 == no) | (w2 == no) | ((w3 == no) & ((w1 == orr) | (w1 == nor)))
        valence = np.where(no_before, base * _vader.N_SCALAR, valence)
        cap_diff = tokens.cap_diff[tokens.message[j]]
        shouted = tokens.upper[j] & cap_diff
        valence = np.where(
            shouted,
            np.where(valence > 0, valence + _vader.C_INCR, valence - _vader.C_INCR),
            valence,
        )
        so_this = [self._id["so"], self._id["this"]]
        never, without, doubt = self._id["never"], self._id["without"], self._id["doubt"]
        for k, damping in ((1, None), (2, 0.95), (3, 0.9)):
            word = (w1, w2, w3)[k - 1]
            applies = (i >= k) & ~self._in_lexicon[word]
            back = np.maximum(j - k, 0)
            scalar = np.where(self._is_booster[word], self._booster[word], 0.0)
            scalar = np.where(self._is_booster[word] & (valence < 0), scalar * -1, scalar)
            loud = self._is_booster[word] & tokens.upper[back] & cap_diff
            scalar = np.where(
                loud, np.where(valence > 0, scalar + _vader.C_INCR, scalar - _vader.C_INCR), scalar
            )
            if damping is not None:
                scalar = np.where(scalar != 0, scalar * damping, scalar)
            valence = np.where(applies, valence + scalar, valence)
            negated = tokens.negates[back]
            if k == 1:
                emphasis = np.zeros_like(applies)
                exempt = np.zeros_like(applies)
            elif k == 2:
                emphasis = (w2 == never) & np.isin(w1, so_this)
                exempt = (w2 == without) & (w1 == doubt)
            else:
                emphasis = ((w3 == never) & np.isin(w2, so_this)) | np.isin(w1, so_this)
                exempt = (w3 == without) & ((w2 == doubt) | (w1 == doubt))
            valence = np.where(applies & emphasis, valence * 1.25, valence)
            negate = applies & ~emphasis & ~exempt & negated
            valence = np.where(negate, valence * _vader.N_SCALAR, valence)
        # _least_check: "least" before a word negates it, except in "at least", "very least".
        least = (w1 == self._id["least"]) & ~self._in_lexicon[w1]
        spared = (i > 1) & ((w2 == self._id["at"]) | (w2 == self._id["very"]))
        return np.where(least & ~spared, valence * _vader.N_SCALAR, valence)


@dataclass(frozen=True)
class _Tokens:
    """VADER's tokens of every message, flattened: one entry per token."""

    ids: np.ndarray  # vocabulary id of the lower-cased token (the missing id if unknown)
    message: np.ndarray  # index of the token's message
    position: np.ndarray  # index of the token in its message
    upper: np.ndarray  # str.isupper() of the token
    negates: np.ndarray  # VADER's negated([token])
    length: np.ndarray  # per message: number of tokens
    cap_diff: np.ndarray  # per message: some, but not all, tokens are in capitals

    @property
    def size(self) -> int:
        return int(self.ids.size)

    @classmethod
    def of(cls, text: pa.Array, scorer: ToneScorer) -> _Tokens:
        lists = split_whitespace(text)
        length = pc.list_value_length(lists).fill_null(0)
        length = length.to_numpy(zero_copy_only=False).astype("int64")
        flat = pc.list_flatten(lists)
        message = np.repeat(np.arange(len(text)), length)
        starts = np.cumsum(length) - length
        position = np.arange(message.size) - starts[message]
        # SentiText._strip_punc_if_word: strip ASCII punctuation unless <= 2 chars remain.
        stripped = pc.utf8_trim(flat, characters=string.punctuation)
        words = pc.if_else(pc.greater(pc.utf8_length(stripped), 2), stripped, flat)
        lower = pc.utf8_lower(words)
        ids = pc.index_in(lower, value_set=scorer._vocab_array)
        ids = ids.fill_null(scorer._missing).to_numpy(zero_copy_only=False).astype("int64")
        upper = pc.utf8_is_upper(words).to_numpy(zero_copy_only=False)
        has_nt = pc.match_substring(lower, "n't").to_numpy(zero_copy_only=False)
        # Unicode case rules differ between Python and Arrow: Python decides non-ASCII tokens.
        non_ascii = np.flatnonzero(
            ~pc.string_is_ascii(words).to_numpy(zero_copy_only=False).astype(bool)
        )
        if non_ascii.size:
            upper = upper.copy()
            has_nt = has_nt.copy()
            for index, word in zip(
                non_ascii.tolist(), words.take(pa.array(non_ascii)).to_pylist(), strict=True
            ):
                folded = word.lower()
                ids[index] = scorer._vocab.get(folded, scorer._missing)
                upper[index] = word.isupper()
                has_nt[index] = "n't" in folded
        n_upper = np.bincount(message, weights=upper.astype("float64"), minlength=len(text))
        return cls(
            ids=ids,
            message=message,
            position=position,
            upper=upper.astype(bool),
            negates=scorer._negates[ids] | has_nt.astype(bool),
            length=length,
            cap_diff=(n_upper > 0) & (n_upper < length),
        )


def _phrase_pairs() -> list[list[str]]:
    """Adjacent word pairs of VADER's multi-word idioms and boosters ("kind of", ...)."""
    phrases = [p for p in (*_vader.SPECIAL_CASES, *_vader.BOOSTER_DICT) if " " in p]
    pairs = []
    for phrase in phrases:
        words = phrase.split()
        pairs.extend([list(pair) for pair in zip(words, words[1:], strict=False)])
    return pairs


def _phrase_words() -> list[str]:
    return [word for pair in _phrase_pairs() for word in pair]


def split_whitespace(text: pa.Array) -> pa.Array:
    """Python's `str.split()` of every text, as an Arrow list array (null: no token).

    Arrow's Unicode whitespace is Python's (checked on every code point), but Arrow keeps
    empty strings at the ends, so the texts are trimmed first and blank ones made null.
    """
    trimmed = pc.utf8_trim_whitespace(text)
    blank = pc.equal(pc.utf8_length(trimmed), 0)
    trimmed = pc.if_else(blank, pa.scalar(None, pa.string()), trimmed)
    return pc.utf8_split_whitespace(trimmed)


def _punctuation_emphasis(text: pa.Array) -> np.ndarray:
    """VADER's `_punctuation_emphasis`: up to four "!" and two or more "?" add weight."""
    bangs = pc.count_substring(text, "!").to_numpy(zero_copy_only=False).astype("int64")
    questions = pc.count_substring(text, "?").to_numpy(zero_copy_only=False).astype("int64")
    exclamation = np.minimum(bangs, 4) * 0.292
    question = np.where(questions > 1, np.where(questions <= 3, questions * 0.18, 0.96), 0.0)
    return exclamation + question


def _normalize(sums: np.ndarray, emphasis: np.ndarray) -> np.ndarray:
    """VADER's `score_valence` compound: emphasis, s / sqrt(s^2 + 15), clip, round(., 4)."""
    s = np.where(sums > 0, sums + emphasis, np.where(sums < 0, sums - emphasis, sums))
    return _round4(np.clip(s / np.sqrt(s * s + 15), -1.0, 1.0))


def _round4(compound: np.ndarray) -> np.ndarray:
    """Python's round(x, 4) of every value, vectorized."""
    # VADER rounds with Python's round(x, 4), which rounds the exact binary value; numpy's
    # rint(x * 1e4) / 1e4 agrees except where x * 1e4 lands within rounding error of a
    # half: those few go through Python's round.
    scaled = compound * 10_000
    rounded = np.round(scaled) / 10_000
    near_half = np.flatnonzero(np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6)
    rounded[near_half] = [round(value, 4) for value in compound[near_half].tolist()]
    return rounded


def as_text_array(texts: Iterable[str | None]) -> pa.Array:
    """The texts as an Arrow string array, a missing text as ""."""
    if isinstance(texts, pa.Array | pa.ChunkedArray):
        array = texts
    elif isinstance(texts, pd.Series):
        array = pa.array(texts, from_pandas=True)
    else:
        array = pa.array(list(texts), type=pa.string(), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.string():
        array = array.cast(pa.string())  # large_string (pandas' str dtype) or all-null
    return array.fill_null("")


@lru_cache(maxsize=1)
def default_scorer() -> ToneScorer:
    """One shared scorer (loading VADER's lexicons takes a few tens of milliseconds)."""
    return ToneScorer()
