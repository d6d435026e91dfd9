import inspect

import pytest

from monas.cli.catalog import describe
from monas.registry import DATASETS, ESTIMATORS, SPACES


@pytest.mark.parametrize("registry", [SPACES, ESTIMATORS, DATASETS], ids=lambda r: r.kind)
def test_the_source_reading_equals_the_imported_registry(registry):
    entries = describe(registry)
    assert [e.name for e in entries] == registry.names()
    for entry in entries:
        factory = registry.get(entry.name)
        live = {
            name: p.default
            for name, p in inspect.signature(factory).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        assert list(entry.options) == list(live), entry.name
        for key, value in entry.options.items():
            assert value is None or value == live[key], (entry.name, key)
        assert entry.arch_format == getattr(factory, "arch_format", "")
        assert entry.training_forms == getattr(factory, "training_forms", {})


def test_every_space_says_its_string_form():
    assert all(entry.arch_format for entry in describe(SPACES))


def test_settings_line_leaves_out_the_seed():
    rwe = {e.name: e for e in describe(ESTIMATORS)}["rwe"]
    assert rwe.settings().startswith("n_train=2000 n_val=1000 head=ridge") and "seed" not in rwe.settings()
