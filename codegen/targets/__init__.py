"""Boards and builds: the board files, the cross toolchains and PlatformIO, and the firmware project
of a model for a board (the local PlatformIO platform of the emulated boards lives in platformio/)."""
