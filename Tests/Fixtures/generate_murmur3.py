#!/usr/bin/env python3
"""murmur3_x86_32 vectors from the `mmh3` package (PyPI; a binding of Austin Appleby's reference
MurmurHash3.cpp), for Tollgate's flag bucketing tests. Committed output; tests never regenerate it.
    pip install mmh3 && python3 Tests/Fixtures/generate_murmur3.py
"""
import json
import pathlib

import mmh3

OUT = pathlib.Path(__file__).resolve().parent / "murmur3.json"

inputs = [
    ("", 0), ("", 1), ("", 0xFFFFFFFF), ("a", 0), ("ab", 0), ("abc", 0), ("abcd", 0), ("abcde", 0),
    ("hello", 0), ("hello", 42), ("The quick brown fox jumps over the lazy dog", 0),
    ("orders-v2:user-1", 0), ("orders-v2:user-2", 0), ("orders-v2:203.0.113.7", 0),
    ("bulk-export:alice@example.com", 0), ("\u00e9t\u00e9:\u65e5\u672c", 0),
]
vectors = [{"input": text, "seed": seed, "hash": mmh3.hash(text.encode("utf-8"), seed, signed=False)}
           for text, seed in inputs]
subjects = [f"user-{i}" for i in range(1000)]
buckets = {s: mmh3.hash(f"orders-v2:{s}".encode(), 0, signed=False) % 100 for s in subjects}
OUT.write_text(json.dumps({"vectors": vectors, "orders_v2_buckets": buckets}, indent=1, sort_keys=True) + "\n")
print(f"wrote {OUT}")
