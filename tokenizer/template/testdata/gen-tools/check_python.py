#!/usr/bin/env python3
"""Renders every case of ../tools with Python's jinja2 set up as transformers
sets it up (the environment of ../gen_python_cases.py) and reports any case
where @huggingface/jinja, which wrote the file, renders differently.

Run from this folder: python3 check_python.py   (jinja2 3.1.x; AHA_SHARED as for gen.mjs)
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from gen_python_cases import env  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
shared = os.environ.get("AHA_SHARED", os.path.join(here, "../../../../../shared"))
e = env()
differ = 0
files = sorted(glob.glob(os.path.join(here, "../tools/*.json")))
for path in files:
    with open(path, encoding="utf-8") as f:
        c = json.load(f)
    with open(os.path.join(shared, "testdata", c["template"]), encoding="utf-8") as f:
        src = f.read()
    try:
        got = e.from_string(src).render(messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                                        tools=c["tools"], documents=c["documents"], **c["variables"])
        err = None
    except Exception as ex:  # the template's own raise_exception, or a type error
        got, err = None, str(ex)
    if got != c.get("expected") or (err is None) != ("error" not in c):
        differ += 1
        print(f"{os.path.basename(path)}: Python renders {got!r} (error {err!r}); the file has {c.get('expected')!r} (error {c.get('error')!r})")
print(f"Python jinja2 agrees on {len(files) - differ} of {len(files)} cases")
sys.exit(1 if differ else 0)
