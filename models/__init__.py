"""Models: features, the Bayesian energy and accuracy models, evaluation and profiles.

Importing this package changes nothing in the process: PyMC and its settings (PyTensor's persistent compile
cache, the warnings it is known to print) are set up in :mod:`models.sampling`, only when a fit runs.
"""
