"""Operator tools for the training-on-eks workshop stacks (`python -m toe ...`)."""
