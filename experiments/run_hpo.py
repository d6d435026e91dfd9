#!/usr/bin/env python
"""Tune the training hyperparameters and augmentation of a DARTS genotype with NOMAD:
``python experiments/run_hpo.py --genotype "Genotype(...)" --time-budget 3600``.

A thin wrapper over ``monas.cli.hpo.main`` (also installed as the ``monas-hpo``
command); ``--help`` lists every option.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from monas.cli.hpo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
