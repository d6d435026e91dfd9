#!/usr/bin/env python
"""Search the Pareto front of estimated error vs. complexity: ``python experiments/run_nsga.py --space darts``.

A thin wrapper over ``monas.cli.nsga.main`` (also installed as the ``monas-nsga`` command);
``--help`` lists every option.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from monas.cli.nsga import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
