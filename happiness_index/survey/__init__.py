"""The survey engine: designs, the variance engine, estimators, quantiles, replicate weights,
sampling, weighting and calibration. Depends on the layers below only.

Modules, lowest first (imports go one way, no cycles):
``variance`` (the variance engine: statistics as functions of weighted totals, Taylor
linearization or replicates, domains) <- ``estimators`` (Estimate, EstimateTable,
intervals) <- ``quantiles`` <- ``analysis`` (the estimators every design shares, domains)
<- ``replicates`` (ReplicateDesign, replicate weights) <- ``design`` (SurveyDesign) <-
``weighting`` (calibration, raking, nonresponse); ``sampling`` stands alone.
"""
