"""The survey engine: designs, the variance engine, estimators, quantiles, replicate weights,
sampling, weighting and calibration. Depends on the layers below only.
"""
