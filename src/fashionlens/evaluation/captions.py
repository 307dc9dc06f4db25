"""Caption metrics by the COCO caption protocol, and whether captions name a garment's category and colour.

BLEU-4, ROUGE-L and CIDEr are pycocoevalcap's own scorers, on text tokenised by its Stanford PTB tokenizer
jar; METEOR is its Meteor 1.5 jar. The two Java tools are run by the wrappers here instead of pycocoevalcap's,
which fail in common setups (pycocoevalcap issue #15 and its many duplicates): Meteor parses numbers in the
JVM's locale (``InputMismatchException`` under e.g. a German locale), ``-Xmx2G`` is fixed, stderr is a pipe
nobody reads, a dead JVM surfaces as ``float('')``, the tokenizer writes a temporary file into site-packages
and reads it in the platform charset. Here Java runs with an English locale and UTF-8, stderr goes to a file
quoted in errors, the heap falls back to a smaller size when the JVM cannot reserve 2 GB, and a hung JVM is
killed after a timeout. The numbers are the same as pycocoevalcap's (the tests check it).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO

from fashionlens.evaluation._ids import check_same_ids, few
from fashionlens.taxonomy import CATEGORIES, GarmentAttributes, allowed_values

#: JVM flags for both tools: an English locale so Meteor reads and writes "0.5" (never "0,5"), UTF-8 text.
JAVA_FLAGS: tuple[str, ...] = ("-Dfile.encoding=UTF-8", "-Duser.language=en", "-Duser.country=US")
#: Meteor's heap, tried in order: pycocoevalcap's 2 GB first, 1 GB (enough for the English paraphrase
#: table, measured ~0.9 GB resident) where the JVM cannot reserve 2 GB.
METEOR_HEAP_SIZES: tuple[str, ...] = ("2G", "1G")
#: Meteor's command line after the jar, as pycocoevalcap runs it: stdio protocol, English, normalised text.
METEOR_ARGS: tuple[str, ...] = ("-", "-", "-stdio", "-l", "en", "-norm")
#: Seconds before a silent Java tool is killed (Meteor spends ~7 s loading its paraphrase table).
JAVA_TIMEOUT_S = 600.0


class CaptionMetricError(RuntimeError):
    """A Java tool behind the caption metrics is missing or failed; the message says which and why."""


def caption_metrics(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float | int]:
    """BLEU-4, ROUGE-L, METEOR and CIDEr of one predicted caption per id against its reference captions.

    COCO caption protocol: every caption is PTB-tokenised, lower-cased and stripped of punctuation; the scores
    are corpus-level (BLEU, METEOR) or per-id means (ROUGE-L, CIDEr) as pycocoevalcap computes them. CIDEr's
    document frequencies come from the references of the ids given, so it is only comparable across runs on
    the same reference set. Returns fractions (not ×100) and the number of ids `n`.

    Raises ValueError when the two sides do not cover the same ids or an id has no reference, and
    CaptionMetricError when Java is missing or a Java tool fails.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    check_same_ids(predictions, references, "predictions", "references")
    ids = sorted(predictions)
    empty = [i for i in ids if isinstance(references[i], str) or not references[i]]
    if empty:
        raise ValueError(f"references must be a non-empty list of captions per id; not for ids {few(empty)}")
    tokens = ptb_tokenize([predictions[i] for i in ids] + [r for i in ids for r in references[i]])
    res = {i: [tokens[k]] for k, i in enumerate(ids)}
    rest = iter(tokens[len(ids) :])
    gts = {i: [next(rest) for _ in references[i]] for i in ids}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge_l, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    return {
        "bleu4": float(bleu[3]),
        "rouge_l": float(rouge_l),
        "meteor": meteor_score([res[i][0] for i in ids], [gts[i] for i in ids]),
        "cider": float(cider),
        "n": len(ids),
    }


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """Tokenise like pycocoevalcap's PTBTokenizer (same jar, flags and punctuation filter), in one JVM call.

    Text goes through stdin as UTF-8, not a temporary file beside the jar; all whitespace (including the
    Unicode line separators Java would split on) is collapsed first so output lines stay aligned with inputs.
    """
    from pycocoevalcap.tokenizer import ptbtokenizer

    if not texts:
        return []
    jar = Path(ptbtokenizer.__file__).with_name(ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
    lines = [" ".join(text.split()) for text in texts]
    command = [_java(), *JAVA_FLAGS, "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer"]
    command += ["-preserveLines", "-lowerCase", "-encoding", "utf-8"]
    try:
        done = subprocess.run(
            command,
            input="\n".join(lines) + "\n",
            capture_output=True,
            encoding="utf-8",
            timeout=JAVA_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise CaptionMetricError(f"PTB tokenizer did not finish within {JAVA_TIMEOUT_S:.0f} s") from None
    output = done.stdout.split("\n")
    if output and output[-1] == "":
        output.pop()
    if done.returncode != 0 or len(output) != len(lines):
        raise CaptionMetricError(
            f"PTB tokenizer failed (exit {done.returncode}, {len(output)} lines for {len(lines)} captions): "
            f"{_tail(done.stderr)}"
        )
    punctuation = set(ptbtokenizer.PUNCTUATIONS)
    return [" ".join(w for w in line.split() if w not in punctuation) for line in output]


def meteor_score(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus-level METEOR 1.5 (English, normalised) of tokenised hypotheses, as pycocoevalcap reports it.

    The JVM is started on first use and kept for later calls in this process (startup costs ~7 s); one
    that died or failed is discarded and replaced on the next call.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("METEOR needs at least one hypothesis")
    global _meteor
    with _METEOR_LOCK:
        if _meteor is not None and _meteor.process.poll() is not None:  # the kept JVM died in between
            _meteor.close()
            _meteor = None
        if _meteor is None:
            _meteor = _Meteor.start()
        try:
            return _meteor.score(hypotheses, references)
        except BaseException:
            _meteor.close()
            _meteor = None
            raise


class _Meteor:
    """One Meteor JVM in `-stdio` mode: a SCORE line per segment returns its statistics; one EVAL line with
    all of them returns each segment's score and then the corpus score (pycocoevalcap's protocol)."""

    def __init__(self, process: subprocess.Popen[str], stderr: IO[bytes]) -> None:
        self.process = process
        self.stderr = stderr

    @classmethod
    def start(cls) -> _Meteor:
        from pycocoevalcap.meteor import meteor

        jar = Path(meteor.__file__).with_name(meteor.METEOR_JAR)
        problems = []
        for heap in METEOR_HEAP_SIZES:
            stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the JVM; closed in close())
            command = [_java(), f"-Xmx{heap}", *JAVA_FLAGS, "-jar", jar.name, *METEOR_ARGS]
            process = subprocess.Popen(
                command,
                cwd=jar.parent,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                encoding="utf-8",
            )
            scorer = cls(process, stderr)
            try:
                with scorer._deadline():
                    # A throwaway segment proves the JVM is up and its paraphrase table loaded.
                    scorer._ask("SCORE ||| a ||| a")
                return scorer
            except CaptionMetricError as error:
                scorer.close()
                problems.append(f"-Xmx{heap}: {error}")
        raise CaptionMetricError("Meteor could not start; " + "; ".join(problems))

    def score(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
        with self._deadline():
            stats = [
                self._ask(" ||| ".join(["SCORE", *map(_meteor_text, refs), _meteor_text(hyp)]))
                for hyp, refs in zip(hypotheses, references, strict=True)
            ]
            self._send(" ||| ".join(["EVAL", *stats]))
            scores = [self._read_score() for _ in range(len(stats) + 1)]
        return scores[-1]  # per-segment scores come first, then the corpus score

    @contextmanager
    def _deadline(self) -> Iterator[None]:
        """Kill the JVM if the block takes longer than JAVA_TIMEOUT_S; the blocked read then fails cleanly."""
        timer = threading.Timer(JAVA_TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _ask(self, line: str) -> str:
        self._send(line)
        return self._read()

    def _send(self, line: str) -> None:
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None

    def _read(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise self._died()
        return line.strip()

    def _read_score(self) -> float:
        line = self._read()
        try:
            return float(line)
        except ValueError:
            raise CaptionMetricError(f"Meteor answered {line[:200]!r} where a score was expected") from None

    def _died(self) -> CaptionMetricError:
        self.process.kill()
        code = self.process.wait()
        self.stderr.seek(0)
        reason = _tail(self.stderr.read().decode("utf-8", "replace")) or "no error output"
        killed = " (killed: timed out or out of memory)" if code < 0 else ""
        return CaptionMetricError(f"Meteor JVM exited with code {code}{killed}: {reason}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            with suppress(OSError):  # stdin may hold unflushed bytes for a JVM that is gone
                stream.close()


_meteor: _Meteor | None = None
_METEOR_LOCK = threading.Lock()


@atexit.register
def _close_meteor() -> None:
    if _meteor is not None:
        _meteor.close()


def _meteor_text(text: str) -> str:
    """One protocol field: "|||" separates fields and a newline ends the request."""
    return " ".join(text.replace("|||", " ").split())


def _java() -> str:
    """The java executable: $JAVA_HOME/bin/java, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home) / "bin" / "java")] if home else []
    candidates.append(shutil.which("java") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise CaptionMetricError(
        "caption metrics need Java (8 or newer) for the PTB tokenizer and METEOR, and none was found (no "
        "$JAVA_HOME/bin/java, no `java` on PATH); install a JRE, e.g. `apt-get install default-jre-headless`"
    )


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


# --- Does a generated caption name the garment's category and colour? -------------------------------------

# fmt: off
#: Words for each category beyond its own name and its taxonomy subcategories (which always count).
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "top": ("tee", "tank", "tank top", "crop top", "camisole", "cami", "hoodie", "pullover", "jumper", "polo",
            "tunic", "parka", "windbreaker", "puffer", "trench", "overcoat", "raincoat", "peacoat", "cape",
            "poncho", "waistcoat", "gilet"),
    "dress": ("gown", "sundress", "romper", "playsuit", "pinafore"),
    "pants": ("trousers", "jeans", "leggings", "tights", "chinos", "joggers", "culottes", "dungarees",
              "overalls", "capris", "jeggings"),
    "skirt": ("miniskirt", "skort", "kilt"),
}
#: Subcategory names that are not garment nouns in free text ("a sleeveless dress" is not a top).
NOT_GARMENT_NOUNS: frozenset[str] = frozenset({"sleeveless"})
#: Colour words beyond the taxonomy's own colour names; a word may stand for several taxonomy colours.
COLOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "gray": ("grey", "charcoal", "silver", "heather"),
    "navy": ("navy blue", "dark blue", "midnight blue", "indigo"),
    "blue": ("dark blue", "light blue", "sky blue", "royal blue", "denim blue", "cobalt", "turquoise", "teal",
             "indigo"),
    "burgundy": ("maroon", "wine", "oxblood", "bordeaux"),
    "beige": ("cream", "camel", "tan", "sand", "nude", "ivory", "ecru", "taupe", "oatmeal", "gold"),
    "brown": ("chocolate", "tan", "camel", "rust", "cognac", "taupe"),
    "khaki": ("olive", "olive green"),
    "green": ("olive", "olive green", "teal", "emerald", "sage"),
    "yellow": ("mustard", "gold", "golden", "lemon"),
    "purple": ("violet", "lilac", "lavender", "plum", "mauve"),
    "pink": ("fuchsia", "magenta", "blush", "rose", "hot pink", "dusty pink", "salmon", "mauve"),
    "coral": ("salmon", "peach"),
    "orange": ("rust", "peach", "tangerine"),
    "mint": ("mint green", "turquoise", "aqua", "sage"),
    "red": ("scarlet", "crimson"),
    "white": ("off-white", "ivory", "cream"),
}
# fmt: on


def attribute_mentions(caption: str, attrs: GarmentAttributes) -> dict[str, object]:
    """Whether `caption` names the garment's category and one of its main colours.

    The category counts as named when any word for it appears: the category itself, any of its subcategories
    (so "jeans" or "slacks" name pants), or a `CATEGORY_SYNONYMS` word. A colour counts when a taxonomy colour
    of the garment or a `COLOR_SYNONYMS` word for it appears. Matching is whole-word, case-insensitive,
    plural-tolerant and prefers the longest phrase ("shirt dress" is a dress, not a top; "navy blue" is navy,
    not blue). Naming other garments or colours as well does not count against a caption (an outfit photo
    shows several). Also returns the categories and colours named.
    """
    categories, colors = _named(caption, _category_words()), _named(caption, _color_words())
    return {
        "category": attrs.category in categories,
        "color": not colors.isdisjoint(attrs.color),
        "named_categories": sorted(categories),
        "named_colors": sorted(colors),
    }


def caption_attribute_accuracy(
    predictions: Mapping[str, str], attrs_by_id: Mapping[str, GarmentAttributes]
) -> dict[str, float | int]:
    """Fraction of predicted captions that name the right category, and a right main colour.

    Every predicted id needs attributes. Garments of category "other" are not scored; the colour fraction is
    over garments with at least one colour (`n_color`), the category fraction over all scored ones (`n`).
    """
    missing = set(predictions).difference(attrs_by_id)
    if missing:
        raise ValueError(f"no attributes for ids {few(missing)}")
    scored = [
        (caption, attrs_by_id[i])
        for i, caption in predictions.items()
        if attrs_by_id[i].category in CATEGORIES
    ]
    if not scored:
        raise ValueError("no prediction is for a garment of a taxonomy category")
    mentions = [(attribute_mentions(caption, attrs), attrs) for caption, attrs in scored]
    colored = [m for m, attrs in mentions if attrs.color]
    return {
        "category": sum(m["category"] for m, _ in mentions) / len(mentions),
        "color": sum(m["color"] for m in colored) / len(colored) if colored else float("nan"),
        "n": len(mentions),
        "n_color": len(colored),
    }


def _named(caption: str, words: tuple[re.Pattern[str], dict[str, frozenset[str]]]) -> set[str]:
    pattern, meaning = words
    found: set[str] = set()
    for match in pattern.finditer(caption.lower()):
        found |= meaning[re.sub(r"[\s-]+", "", match.group(1))]
    return found


def _word_pattern(words: Mapping[str, Iterable[str]]) -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
    """A regex matching any word (longest first, spaces/hyphens interchangeable or absent, optional plural
    "s"/"es") and a map from the matched word, separators removed, to the values it stands for."""
    meaning: dict[str, set[str]] = {}
    for value, synonyms in words.items():
        for word in synonyms:
            meaning.setdefault(re.sub(r"[\s-]+", "", word), set()).add(value)
    phrases = sorted({w for synonyms in words.values() for w in synonyms}, key=len, reverse=True)
    alternatives = "|".join(r"[\s-]*".join(map(re.escape, re.split(r"[\s-]+", p))) for p in phrases)
    pattern = re.compile(rf"(?<![a-z0-9])({alternatives})(?:e?s)?(?![a-z0-9])")
    return pattern, {word: frozenset(values) for word, values in meaning.items()}


@cache
def _category_words() -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
    words = {
        c: [
            c,
            *CATEGORY_SYNONYMS.get(c, ()),
            *(s for s in allowed_values("subcategory", c) if s not in NOT_GARMENT_NOUNS),
        ]
        for c in CATEGORIES
    }
    return _word_pattern(words)


@cache
def _color_words() -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
    return _word_pattern({c: [c, *COLOR_SYNONYMS.get(c, ())] for c in allowed_values("color")})
