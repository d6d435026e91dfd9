#!/usr/bin/env python
"""Score given architectures without searching: ``python experiments/evaluate.py --space darts --genotypes FILE``.

A thin wrapper over ``monas.cli.evaluate.main``; ``--help`` lists every option.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from monas.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
