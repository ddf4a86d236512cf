"""Imaging payload: synthetic multispectral scenes and decoding of on-board detections."""
