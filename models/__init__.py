"""Models: features, the Bayesian energy and accuracy models, evaluation and profiles."""
