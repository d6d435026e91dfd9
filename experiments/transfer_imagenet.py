#!/usr/bin/env python
"""Train DARTS genotypes on ImageNet: ``torchrun --nproc_per_node 8 experiments/transfer_imagenet.py --run runs/c10 --data-dir /data/imagenet``
or ``python experiments/transfer_imagenet.py ... --submit slurm``.

A thin wrapper over ``monas.cli.transfer.main`` (also installed as the
``monas-transfer`` command); ``--help`` lists every option.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from monas.cli.transfer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
