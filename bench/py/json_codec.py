"""JSON: encodes a list of nested records with json.dumps (both compact and indented,
with sorted keys) and decodes it again with json.loads, several rounds.

    json_codec.py RECORDS
"""

import json
import sys

from benchutil import Lcg, report

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "üñí", "\"q\""]


def records(n, rng):
    out = []
    for i in range(n):
        out.append({
            "id": i,
            "name": f"user-{rng.below(1_000_000):06d}",
            "active": rng.below(2) == 1,
            "score": rng.below(100_000) / 8.0,
            "tags": [WORDS[rng.below(len(WORDS))] for _ in range(rng.below(5))],
            "address": {"street": f"{rng.below(999)} {WORDS[i % len(WORDS)]} road",
                        "zip": f"{rng.below(99999):05d}", "geo": [i * 0.5, -i * 0.25]},
            "parent": None if i == 0 else i - 1 - rng.below(min(i, 10)),
        })
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    data = records(n, Lcg(42))
    total_len = 0
    check = 0
    for rnd in range(4):
        text = json.dumps(data, sort_keys=True) if rnd % 2 == 0 else \
            json.dumps(data, indent=2, ensure_ascii=False)
        total_len += len(text)
        back = json.loads(text)
        if back != data:
            raise SystemExit("json_codec.py: the decoded data differs from the original")
        check = (check + sum(r["parent"] or 0 for r in back) + len(back[-1]["tags"])) & 0xFFFFFFFF
        data = back  # the next round encodes the freshly decoded objects
    report(f"records {n} chars {total_len} check {check}")


if __name__ == "__main__":
    main()
