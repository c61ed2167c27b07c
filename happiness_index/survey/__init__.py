"""The survey engine: designs, the variance engine, estimators, quantiles, replicate weights,
sampling, weighting and calibration. Depends on the layers below only.

Modules and their one-way imports (``a <- b``: b imports a; no cycles):
``variance`` (the variance engine: statistics as functions of weighted totals, Taylor
linearization or replicates, domains) and ``estimators`` (Estimate, EstimateTable,
intervals) <- ``quantiles`` <- ``analysis`` (the estimators every design shares, domains)
<- ``replicates`` (ReplicateDesign, replicate weights) <- ``design`` (SurveyDesign) <-
``weighting`` (calibration, raking, nonresponse); ``sampling`` stands alone.
"""
