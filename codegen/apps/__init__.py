"""Streaming apps: their settings, checks and record formats, shared by the firmware renderer and the command line."""
