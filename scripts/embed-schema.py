#!/usr/bin/env python3
"""Writes Sources/MirrorSite/BundledSchema.swift from schemas/mirrors.schema.json, so that `mirrorsync init` can put
the schema beside the files it writes: python3 scripts/embed-schema.py (run after gen-schema.py)."""
import os
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
schema = open(os.path.join(root, "schemas/mirrors.schema.json")).read()
assert '"""#' not in schema
out = os.path.join(root, "Sources/MirrorSite/BundledSchema.swift")
open(out, "w").write(
    "// Written by scripts/embed-schema.py from schemas/mirrors.schema.json; the tests check that the two agree.\n\n"
    "/// The JSON Schema of one file of mirrors.d, as `schemas/mirrors.schema.json` holds it.\n"
    "public enum BundledSchema {\n"
    "    public static let json = #\"\"\"\n" + schema + "\"\"\"#\n}\n")
