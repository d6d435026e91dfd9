import pytest

from monas.tune.space import Hyperparameter, training_space


def test_space_declares_types_and_decodes():
    space = training_space(2, 6)
    types = space.nomad_parameters()[0]
    assert types == "BB_INPUT_TYPE ( R R I R R I B I I R R I )"
    values = space.decode(space.x0)
    assert values == {p.name: p.default for p in space.params}
    assert values["epochs"] == 4 and values["batch_size"] == 64
    assert space.decode(space.upper)["lr"] == 0.5 and space.decode(space.lower)["batch_size"] == 32
    assert "epochs" not in {p.name for p in training_space(tune_epochs=False).params}
    assert "epochs" not in {p.name for p in training_space(3, 3).params}
    with pytest.raises(ValueError):
        Hyperparameter("lr", "log", 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="single value"):
        Hyperparameter("epochs", "int", 1, 1, 1)
