"""Dicts and strings: generates a text of Zipf-like distributed words, then counts
the words (str.split, lower, strip, a dict), the bigrams (tuple keys) and the letter
frequencies, and prints the top words.

    word_freq.py WORDS
"""

import sys

from benchutil import Lcg, report


def vocabulary(rng, size=5000):
    syll = ["ka", "to", "ri", "ne", "sa", "mo", "lu", "pe", "di", "ga", "zo", "shi"]
    words = set()
    while len(words) < size:
        w = "".join(syll[rng.below(len(syll))] for _ in range(1 + rng.below(4)))
        words.add(w)
    return sorted(words)


def text(n, rng):
    vocab = vocabulary(rng)
    parts = []
    for i in range(n):
        # The minimum of three draws: low indices (common words) dominate.
        w = vocab[min(rng.below(len(vocab)), rng.below(len(vocab)), rng.below(len(vocab)))]
        if i % 11 == 0:
            w = w.capitalize()
        if i % 13 == 0:
            w += ","
        parts.append(w)
        if i % 17 == 16:
            parts[-1] += "."
    return " ".join(parts)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    t = text(n, Lcg(1234))
    freq = {}
    bigrams = {}
    prev = None
    for raw in t.split():
        w = raw.strip(".,").lower()
        freq[w] = freq.get(w, 0) + 1
        if prev is not None:
            k = (prev, w)
            bigrams[k] = bigrams.get(k, 0) + 1
        prev = w
    letters = {}
    for w, c in freq.items():
        for ch in w:
            letters[ch] = letters.get(ch, 0) + c
    top = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    top_bi = max(bigrams.items(), key=lambda kv: (kv[1], kv[0]))
    report(f"words {sum(freq.values())} distinct {len(freq)} bigrams {len(bigrams)} "
           f"top {' '.join(f'{w}:{c}' for w, c in top)} "
           f"bigram {'-'.join(top_bi[0])}:{top_bi[1]} "
           f"letters {''.join(sorted(letters, key=lambda ch: (-letters[ch], ch)))}")


if __name__ == "__main__":
    main()
