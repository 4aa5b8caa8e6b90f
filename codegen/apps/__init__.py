"""Streaming apps: their settings, checks, record formats and C tables, shared by the firmware renderer and the
command line (no hostsim here: the twins in hostsim/apps import these)."""
