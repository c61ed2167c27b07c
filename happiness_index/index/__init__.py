"""The index layer: the composite index, reliability, year-on-year comparison and targets.
Depends on the survey engine and the layers below only.
"""
