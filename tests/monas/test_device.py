import pytest
import torch

from monas.cli.common import UsageError
from monas.device import resolve_device


def test_auto_and_cpu_resolve_and_unknown_devices_are_one_line_errors():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("tpu", "meta", "cuda:x"):
        with pytest.raises(UsageError, match=f"unknown --latency-device '{name}' \\(auto, cpu, cuda or cuda:N\\)"):
            resolve_device(name, "--latency-device")


def test_a_cuda_device_this_machine_lacks_is_refused():
    count = torch.cuda.device_count()
    with pytest.raises(UsageError, match="--device cuda:99" if count else "no CUDA device is available"):
        resolve_device("cuda:99" if count else "cuda")
