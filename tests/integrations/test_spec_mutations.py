"""Whatever a tenant pastes, the spec check answers with its problems, never with a crash (a 500).

Hundreds of documents made by breaking the example spec in random places (a seeded generator:
the same documents every run) with values of the wrong kind: numbers for objects, lists for
strings, references to nothing. Each must load, or be refused with located problems."""

import copy
import json
import random
from pathlib import Path

import pytest
import yaml

from integrations.spec import SpecInvalid, spec_load

EXAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs/examples/pump-cloud.yaml").read_text())
WRONG = [None, 5, "x", [], {}, [1], {"a": 1}, True, -1.5, [{}], {"$ref": "#/definitions/Asset"},
         {"$ref": "#/nope"}, {"$ref": "https://example.com/x.yaml"}, {"type": 5}, "/x"]  # fmt: skip


def _places(node, prefix=()):
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _places(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _places(value, (*prefix, index))


PLACES = list(_places(EXAMPLE))


def _broken(rng: random.Random) -> dict:
    document = copy.deepcopy(EXAMPLE)
    for _ in range(rng.randint(1, 4)):
        place = rng.choice(PLACES)
        node = document
        try:
            for key in place[:-1]:
                node = node[key]
            node[place[-1]] = copy.deepcopy(rng.choice(WRONG))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed that place
    return document


@pytest.mark.parametrize("seed", range(6))
def test_a_broken_spec_is_refused_with_its_problems_never_a_crash(seed):
    rng = random.Random(seed)
    refused = 0
    for _ in range(60):
        try:
            spec_load(json.dumps(_broken(rng)))
        except SpecInvalid as exc:
            refused += 1
            assert exc.problems and all(isinstance(p, str) and ": " in p for p in exc.problems)
    assert refused  # the generator does break documents
