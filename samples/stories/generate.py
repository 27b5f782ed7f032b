#!/usr/bin/env python3
"""Writes the stories sample: story openings for the tiny pretrained stories260K model, each naming a thing the
continuation should come back to (the `contains` reward: the word appears again in the continuation). Deterministic; run from anywhere: python3 samples/stories/generate.py"""
import json, os, random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(7)
names = ["Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Anna", "Tim", "Lucy", "Sam"]
openings = [
    "Once upon a time, there was a little girl named {n}. She had a {w}.",
    "One day, {n} went to the park and saw a {w}.",
    "{n} found a {w} in a big red box.",
    "Once upon a time, {n} wanted to play with a {w}.",
    "{n} and mom went for a walk. They saw a {w}.",
    "It was a sunny day. {n} was happy because of the {w}.",
]
words = ["ball", "dog", "cat", "tree", "friend", "toy", "bird", "cake"]

def record(i, split):
    n, o, w = rng.choice(names), rng.choice(openings), rng.choice(words)
    return {"id": f"{split}-{i}", "prompt": o.format(n=n, w=w), "reference": w, "slice": w}

for split, count in [("train", 160), ("heldout", 40)]:
    with open(os.path.join(here, f"{split}.jsonl"), "w", encoding="utf-8") as f:
        for i in range(count):
            f.write(json.dumps(record(i, split), ensure_ascii=False) + "\n")
