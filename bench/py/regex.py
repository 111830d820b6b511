"""Regular expressions: the regex-redux program of the Computer Language Benchmarks
Game on generated DNA-like text (variant counts, IUB substitutions), plus tokenizing
generated log lines with named groups.

    regex.py KILOBASES
"""

import re
import sys

from benchutil import Lcg, report

VARIANTS = (
    "agggtaaa|tttaccct",
    "[cgt]gggtaaa|tttaccc[acg]",
    "a[act]ggtaaa|tttacc[agt]t",
    "ag[act]gtaaa|tttac[agt]ct",
    "agg[act]taaa|ttta[agt]cct",
    "aggg[acg]aaa|ttt[cgt]ccct",
    "agggt[cgt]aa|tt[acg]accct",
    "agggta[cgt]a|t[acg]taccct",
    "agggtaa[cgt]|[acg]ttaccct",
)
SUBST = (
    ("tHa[Nt]", "<4>"), ("aND|caN|Ha[DS]|WaS", "<3>"), ("a[NSt]|BY", "<2>"),
    ("<[^>]*>", "|"), ("\\|[^|][^|]*\\|", "-"),
)
LOG = re.compile(r"(?P<ip>\d+\.\d+\.\d+\.\d+) - - \[(?P<day>\d+)/(?P<mon>\w+)/\d+\] "
                 r'"(?P<verb>GET|POST|PUT) (?P<path>/[\w/.-]*) HTTP/1\.[01]" (?P<code>\d{3}) (?P<size>\d+)')


def dna(kb, rng):
    """FASTA-ish text: lines of 60 bases with a skewed alphabet, some IUB codes and a
    header line now and then."""
    alphabet = "acgtacgtacgtacgtBDHKMNRSVWY"
    lines = []
    for i in range(kb * 1024 // 60):
        if i % 500 == 0:
            lines.append(f">THREE Homo sapiens frequency {i}")
        lines.append("".join(alphabet[rng.below(len(alphabet)) if rng.below(8) == 0
                                      else rng.below(4)] for _ in range(60)))
    return "\n".join(lines) + "\n"


def logs(n, rng):
    verbs = ("GET", "POST", "PUT")
    months = ("Jan", "Feb", "Mar", "Apr")
    return "\n".join(
        f"10.{rng.below(256)}.{rng.below(256)}.{rng.below(256)} - - "
        f"[{rng.below(28) + 1}/{months[rng.below(4)]}/2024] "
        f'"{verbs[rng.below(3)]} /api/v{rng.below(3)}/item/{rng.below(10000)}.json HTTP/1.1" '
        f"{(200, 404, 500, 301)[rng.below(4)]} {rng.below(100000)}"
        for _ in range(n))


def main():
    kb = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rng = Lcg(7)
    seq = dna(kb, rng)
    ilen = len(seq)
    seq = re.sub(">.*\n|\n", "", seq)
    clen = len(seq)
    counts = [len(re.findall(v, seq)) for v in VARIANTS]
    for pat, rep in SUBST:
        seq = re.sub(pat, rep, seq)
    by_code = {}
    bytes_by_verb = {}
    for m in LOG.finditer(logs(kb * 20, rng)):
        by_code[m["code"]] = by_code.get(m["code"], 0) + 1
        bytes_by_verb[m["verb"]] = bytes_by_verb.get(m["verb"], 0) + int(m["size"])
    report(f"len {ilen} {clen} {len(seq)} variants {' '.join(map(str, counts))} "
           f"codes {sorted(by_code.items())} bytes {sorted(bytes_by_verb.items())}")


if __name__ == "__main__":
    main()
