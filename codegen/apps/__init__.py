"""Streaming apps' parameters, records and C tables (no hostsim here: the twins in hostsim/apps import these)."""
