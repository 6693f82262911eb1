"""Conventions every ``skiaa`` sub-command follows (one flag name per concept)."""

import argparse

import pytest

from skiaa.cli import build_parser


def _subcommands():
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_random_seed_is_spelled_seed_everywhere():
    for name, sub in _subcommands().items():
        flags = {flag for action in sub._actions for flag in action.option_strings}
        wrong = {f for f in flags if ("random" in f or "seed" in f) and f != "--seed"}
        assert not wrong, f"skiaa {name}: {sorted(wrong)} (the seed flag is --seed)"
        resample = {f for f in flags if "boot" in f}
        assert not resample, f"skiaa {name}: {sorted(resample)} (use --n-resamples)"


@pytest.mark.parametrize("name", ["agreement", "compare", "reproduce"])
def test_commands_drawing_random_numbers_take_seed(name):
    sub = _subcommands()[name]
    seed = [a for a in sub._actions if "--seed" in a.option_strings]
    assert len(seed) == 1 and seed[0].type is int
