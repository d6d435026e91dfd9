"""monas: multi-objective evolutionary neural architecture search with cheap estimators."""
__version__ = "0.1.0"
