"""Bit-exact numpy twins of the streaming firmware apps."""
