"""The payload: the camera (synthetic multispectral scenes), the multi-card inference cluster, the
decoding of on-board detections, and the demo model they fly."""
