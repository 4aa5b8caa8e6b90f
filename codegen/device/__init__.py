"""Talking to a running board: the serial protocol, the emulators (QEMU, and the simavr harness in
simavr/), and instruction counting (the QEMU plugin in qemu_plugin/). The C here runs on the host."""
