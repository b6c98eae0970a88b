#!/usr/bin/env python3
"""Check files of mirrors.d against the JSON Schema, as an editor or a pipeline would.

    python3 schema_check.py SCHEMA FILE...

Prints one line of JSON to stdout: an object that maps each FILE, as given, to
{"valid": true|false, "errors": ["$.json.path: message", ...]}. A file that PyYAML
cannot load (bad syntax, bad UTF-8, several documents, an unknown tag...) is not
valid, and its load error is the one error. One bad file never stops the others.

Exit status: 0 when the check ran, whatever the verdicts; 2 when the schema cannot
be used (unreadable, not JSON, or not a valid Draft 2020-12 schema) or the command
line is wrong.

Two details make the verdicts those of the schema rather than of Python:
- JSON Schema patterns are ECMA-262 regular expressions. Python's `$` also matches
  before a final newline and its `.` matches a carriage return, so "15m\\n" would
  pass "^...$". Patterns are translated so that `$` means the end of the string and
  `.` excludes line terminators, as in JavaScript (and so in yaml-language-server).
- The loaded data is put in JSON's data model first: mapping keys become strings,
  and dates and times (YAML 1.1 timestamps, which JSON lacks) become their text.
  Everything else stays as PyYAML (YAML 1.1) resolved it, so `yes` is a boolean
  and `010` is the integer 8, although mirrorsync keeps such values as written.
"""

import datetime
import json
import re
import sys

import jsonschema
import yaml

LOADER = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
MAX_MESSAGE = 300


# --- ECMA-262 flavoured patterns -------------------------------------------------

_compiled = {}


def ecma_regex(pattern):
    """Compiles a JSON Schema (ECMA-262) pattern for Python's re, fixing `$` and `.`."""
    cached = _compiled.get(pattern)
    if cached is not None:
        return cached
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # "[]" is an empty class in ECMA-262; "[]...]" would differ
                out.append("[^\\s\\S]")
                i += 2
                in_class = False
                continue
        elif ch == "$":
            ch = "\\Z"
        elif ch == ".":
            ch = "[^\\n\\r\\u2028\\u2029]"
        out.append(ch)
        i += 1
    compiled = re.compile("".join(out))
    _compiled[pattern] = compiled
    return compiled


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{_short(instance)} does not match {pattern!r}")


# Draft 2020-12 as jsonschema implements it, with ECMA-262 semantics for `pattern`.
# (Keys of patternProperties are matched by jsonschema itself; mirrors.d's only one, ^x-, means the same in both.)
Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def schema_patterns(node):
    """Every regular expression in a schema: `pattern` values and `patternProperties` keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from value.keys()
            yield from schema_patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_patterns(item)


# --- From YAML to JSON's data model ---------------------------------------------

def _json_key(key):
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    if isinstance(key, (datetime.date, datetime.datetime)):
        return key.isoformat()
    return str(key)


def to_json_model(value, memo=None):
    """Copies loaded YAML into JSON's data model; shared and recursive nodes (aliases) stay shared."""
    if memo is None:
        memo = {}
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        if id(value) in memo:
            return memo[id(value)]
        out = memo[id(value)] = {}
        for k, v in value.items():
            out[_json_key(k)] = to_json_model(v, memo)
        return out
    if isinstance(value, list):
        if id(value) in memo:
            return memo[id(value)]
        out = memo[id(value)] = []
        out.extend(to_json_model(v, memo) for v in value)
        return out
    return value


# --- Reporting ------------------------------------------------------------------

def _one_line(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def _short(instance):
    text = repr(instance)
    return text if len(text) <= 80 else text[:77] + "..."


def _path(error):
    out = "$"
    for part in error.absolute_path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += "." + part
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def _message(error):
    message = error.message
    if error.validator == "not":
        # The schema's `not` clauses name what the Swift parsers refuse; their $comment says what.
        comment = error.schema.get("$comment") if isinstance(error.schema, dict) else None
        message = f"{_short(error.instance)} is refused" + (f": {comment}" if comment else "")
    elif error.context:
        # oneOf/anyOf: say why the closest alternative failed, not only that none matched;
        # an alternative of another type is rarely the one meant.
        same_type = [e for e in error.context if e.validator != "type"] or error.context
        best = jsonschema.exceptions.best_match(same_type)
        if best is not None and best.message != message:
            message += f" (closest: {best.message})"
    return _one_line(message)


def check_file(validator, path):
    try:
        with open(path, "rb") as handle:
            data = yaml.load(handle, Loader=LOADER)  # a file, so that messages name it
    except OSError as exc:
        return {"valid": False, "errors": [_one_line(f"cannot read the file: {exc.strerror or exc}")]}
    except yaml.YAMLError as exc:
        return {"valid": False, "errors": [_one_line(f"YAML: {exc}")]}
    except (UnicodeError, ValueError, RecursionError, MemoryError) as exc:
        return {"valid": False, "errors": [_one_line(f"YAML: cannot load: {type(exc).__name__}: {exc}")]}
    try:
        instance = to_json_model(data)
        errors = sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        messages = [f"{_path(e)}: {_message(e)}" for e in errors]
    except RecursionError:
        return {"valid": False, "errors": ["$: the document nests too deeply (or refers to itself) to be checked"]}
    return {"valid": not messages, "errors": messages}


def main(argv):
    if len(argv) < 2:
        print("usage: schema_check.py SCHEMA FILE...", file=sys.stderr)
        return 2
    schema_path, files = argv[0], argv[1:]
    try:
        with open(schema_path, "rb") as handle:
            schema = json.loads(handle.read().decode("utf-8"))
        Validator.check_schema(schema)
        for pattern in schema_patterns(schema):
            ecma_regex(pattern)
    except (OSError, UnicodeError, ValueError) as exc:
        print(f"schema_check: cannot read the schema {schema_path}: {exc}", file=sys.stderr)
        return 2
    except jsonschema.exceptions.SchemaError as exc:
        print(f"schema_check: {schema_path} is not a valid schema: {_one_line(exc.message)}", file=sys.stderr)
        return 2
    except re.error as exc:
        print(f"schema_check: {schema_path} holds a pattern Python cannot compile: {exc}", file=sys.stderr)
        return 2
    validator = Validator(schema)
    results = {}
    for path in files:
        try:
            results[path] = check_file(validator, path)
        except Exception as exc:  # never let one file stop the others
            results[path] = {"valid": False, "errors": [_one_line(f"internal error: {type(exc).__name__}: {exc}")]}
    sys.stdout.write(json.dumps(results) + "\n")  # ASCII, whatever the locale
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
