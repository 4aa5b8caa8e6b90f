"""Bit-exact numpy twins of the streaming firmware apps' whole pipelines (sensor samples in, records out)."""
