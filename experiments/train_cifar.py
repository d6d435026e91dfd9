#!/usr/bin/env python
"""Train DARTS genotypes on CIFAR-10 with the DARTS recipe: ``python experiments/train_cifar.py --run runs/c10 --pick knee``.

A thin wrapper over ``monas.cli.train.main`` (also installed as the ``monas-train``
command); ``--help`` lists every option.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from monas.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
