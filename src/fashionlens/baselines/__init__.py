"""Baselines the thesis compares against, built from the same offline parts."""
