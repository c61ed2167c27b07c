"""The questionnaire layer: the index specification (items, components, presets) and the safe
formula language. Depends only on :mod:`happiness_index.errors`.
"""
