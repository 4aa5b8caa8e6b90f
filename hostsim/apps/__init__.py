"""Bit-exact numpy twins of the streaming apps' whole pipelines (sensor samples in, records out)."""
