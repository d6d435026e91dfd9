#!/usr/bin/env python
"""Is the accuracy estimator right for your data? ``python experiments/check_estimator.py --space nb201 --dataset digits``.

A thin wrapper over ``monas.cli.check_estimator.main``; ``--help`` lists every option.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from monas.cli.check_estimator import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
