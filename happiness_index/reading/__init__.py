"""The reading and validation layer: survey files in, questionnaire-aware validation, bundled data.
Depends on :mod:`happiness_index.questionnaire` and :mod:`happiness_index.errors`.
"""
