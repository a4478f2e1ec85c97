#!/usr/bin/env python3
"""Checks policy files against the JSON Schema with an independent implementation (Python jsonschema).

Usage: check_policy_schema.py SCHEMA FILE...
Prints one JSON object per file: {"file": ..., "valid": bool, "errors": [...]}; exit 0 unless the
schema itself is invalid. YAML is read with the YAML 1.2 core schema, as the sidecar reads it (a
plain `yes` is a string, not a boolean), and a key repeated within one mapping is an error.
"""
import json
import re
import sys

import jsonschema
import yaml


# libyaml's parser when PyYAML has it: the parser the sidecar's Yams uses (PyYAML's own scanner
# refuses some plain scalars libyaml accepts, such as `/a?x=1` in a flow mapping).
BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CoreSchemaLoader(BaseLoader):
    """The safe loader with YAML 1.2 core-schema scalars instead of YAML 1.1's."""


CoreSchemaLoader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+0123456789.")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]:
    CoreSchemaLoader.add_implicit_resolver(tag, re.compile(pattern), first)


def construct_bool(loader, node):
    return loader.construct_scalar(node).lower() == "true"


def construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep)


CoreSchemaLoader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
CoreSchemaLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)


def check(validator, path):
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        document = yaml.load(text, Loader=CoreSchemaLoader)
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        return [f"unreadable: {error}".splitlines()[0]]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(document)]


def main():
    with open(sys.argv[1]) as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sys.argv[2:]:
        errors = check(validator, path)
        print(json.dumps({"file": path, "valid": not errors, "errors": errors}))


if __name__ == "__main__":
    main()
