#!/usr/bin/env python3
"""Writes the arithmetic sample task: 200 word problems (100 English, 100 German), numeric answers.

Licence-clean: every problem is generated here from templates. Deterministic (fixed seed), no dependencies.
Splits: train.jsonl (120 RL prompts), demonstrations.jsonl (40, with completions), heldout.jsonl (40, 20 per language).
Run from anywhere: python3 samples/arithmetic/generate.py
"""
import json
import os
import random

NAMES = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo"]
ITEMS = {"en": ["apples", "books", "coins", "stamps", "marbles"],
         "de": ["Äpfel", "Bücher", "Münzen", "Briefmarken", "Murmeln"]}
TEMPLATES = {
    "en": {
        "+": "{n} has {a} {item} and gets {b} more. How many {item} does {n} have now?",
        "-": "{n} has {a} {item} and gives away {b}. How many {item} are left?",
        "*": "{n} buys {a} boxes with {b} {item} each. How many {item} is that?",
    },
    "de": {
        "+": "{n} hat {a} {item} und bekommt {b} dazu. Wie viele {item} hat {n} jetzt?",
        "-": "{n} hat {a} {item} und verschenkt {b}. Wie viele {item} bleiben übrig?",
        "*": "{n} kauft {a} Schachteln mit je {b} {item}. Wie viele {item} sind das?",
    },
}


def problem(rng, lang, index):
    op = rng.choice("+-*")
    if op == "*":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        answer = a * b
    elif op == "-":
        a = rng.randint(5, 20)
        b = rng.randint(1, a - 1)
        answer = a - b
    else:
        a, b = rng.randint(1, 20), rng.randint(1, 20)
        answer = a + b
    text = TEMPLATES[lang][op].format(n=rng.choice(NAMES), a=a, b=b, item=rng.choice(ITEMS[lang]))
    return {"id": f"{lang}-{index:03d}", "prompt": text, "reference": str(answer), "slice": lang,
            "metadata": {"op": op, "a": a, "b": b}}


def main():
    rng = random.Random(16)
    here = os.path.dirname(os.path.abspath(__file__))
    by_lang = {lang: [problem(rng, lang, i) for i in range(100)] for lang in ("en", "de")}
    train, demos, heldout = [], [], []
    for lang, items in by_lang.items():
        train += items[:60]
        demos += [dict(p, completion=p["reference"]) for p in items[60:80]]
        heldout += items[80:]
    for name, rows in (("train", train), ("demonstrations", demos), ("heldout", heldout)):
        with open(os.path.join(here, name + ".jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(train)} train, {len(demos)} demonstrations, {len(heldout)} held-out records to {here}")


if __name__ == "__main__":
    main()
