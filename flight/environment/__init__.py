"""The environment the satellite flies in: its orbit (sunlit or eclipse, over the SAA or not),
its battery and power budget, and the thermal behaviour of its cards."""
