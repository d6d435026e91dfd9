import pytest
import torch

from monas.accuracy_table import TableError
from monas.estimators import ESTIMATORS
from tests.conftest import shared_data

INDEX_1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def no_build():
    raise AssertionError("the table estimator must not build the network")


def estimate(estimator, arch):
    return estimator.estimate(arch, no_build, None, torch.device("cpu"))


@pytest.fixture
def small_table(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("index,arch_str,acc\n0,a,90.5\n1,b,80\n")
    return str(path)


def test_the_nb201_table_gives_the_benchmark_error():
    path = shared_data("nb201", "nb201_accuracy.csv")
    estimator = ESTIMATORS.create("table", path=str(path), seed=0)
    assert (estimator.n_train, estimator.n_val) == (0, 0)
    assert estimate(estimator, INDEX_1) == pytest.approx(100.0 - 93.66)
    valid = ESTIMATORS.create("table", path=str(path), column="cifar10_valid_acc_200ep")
    assert estimate(valid, INDEX_1) == pytest.approx(100.0 - 90.39)


def test_the_default_table_is_nb201_cifar10_test_accuracy():
    shared_data("nb201", "nb201_accuracy.csv")
    estimator = ESTIMATORS.create("table", seed=0)
    assert estimator.column == "cifar10_test_acc_200ep"
    assert estimate(estimator, INDEX_1) == pytest.approx(6.34)


def test_returns_100_minus_the_column(small_table):
    estimator = ESTIMATORS.create("table", path=small_table, column="acc")
    assert estimate(estimator, "a") == pytest.approx(9.5)
    assert estimate(estimator, "b") == pytest.approx(20.0)
    assert estimator.knobs() == {"path": small_table, "column": "acc", "seed": 0}


def test_an_unknown_architecture_is_a_table_error(small_table):
    estimator = ESTIMATORS.create("table", path=small_table, column="acc")
    with pytest.raises(TableError, match="'c' is not in"):
        estimate(estimator, "c")


@pytest.mark.parametrize("column", ["accuracy", "arch_str", "index"])
def test_an_unknown_column_fails_when_the_estimator_is_made(small_table, column):
    with pytest.raises(TableError, match=f"no accuracy column '{column}'.*columns: acc"):
        ESTIMATORS.create("table", path=small_table, column=column)


def test_a_missing_file_fails_when_the_estimator_is_made(tmp_path):
    with pytest.raises(TableError, match="cannot read accuracy table"):
        ESTIMATORS.create("table", path=str(tmp_path / "missing.csv"))
    assert issubclass(TableError, ValueError)
