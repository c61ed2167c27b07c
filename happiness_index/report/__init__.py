"""The report layer: the annual main job, documents and the command line. The top layer.
"""
