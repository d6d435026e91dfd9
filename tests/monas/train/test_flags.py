import dataclasses

from monas.cli.networks import network_settings
from monas.cli.recipes import recipe_config
from monas.cli.train import build_parser
from monas.train.flags import config_flags, config_from_args


def test_the_written_flags_parse_back_to_the_configuration_and_network():
    base = recipe_config("ofa", "cifar")
    config = dataclasses.replace(base, lr=0.0123, amp=False, mixup=0.2, time_budget=30.0, eval_every=3.0)
    network = {"width": 0.5, "dropout": 0.1}
    flags = config_flags(config, "ofa", base, network)
    assert flags[:2] == ["--recipe", "ofa"] and "--eval-every" not in flags
    args = build_parser().parse_args(["--space", "mobilenetv3", "--arch", "x", *flags])
    assert args.recipe == "ofa" and network_settings(args, "mobilenetv3", "cifar") == network
    assert config_from_args(args, base) == dataclasses.replace(config, eval_every=base.eval_every)
