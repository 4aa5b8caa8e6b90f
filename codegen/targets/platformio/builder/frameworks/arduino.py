"""Arduino framework of the mlc_emulated platform: Debian's arduino-core-avr (no registry package)."""
from os.path import isdir, join

from SCons.Script import DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

core_root = board.get("build.arduino_core_dir", "/usr/share/arduino/hardware/arduino/avr")
core_dir = join(core_root, "cores", board.get("build.core", "arduino"))
variant_dir = join(core_root, "variants", board.get("build.variant", "standard"))
if not isdir(core_dir):
    env.Exit("Arduino AVR core not found at %s: apt-get install arduino-core-avr" % core_dir)
env.Append(CPPPATH=[core_dir, variant_dir],
           CPPDEFINES=[("ARDUINO", 10807), "ARDUINO_AVR_UNO", "ARDUINO_ARCH_AVR", ("F_CPU", "$BOARD_F_CPU")])
# The core is built with warnings off: it is Arduino's code, not ours.
core_env = env.Clone()
core_env.Append(CCFLAGS=["-w"])
# wiring_pulse.c and wiring_pulse.S would both become wiring_pulse.o: build the assembly one apart.
core_lib = core_env.BuildLibrary(join("$BUILD_DIR", "FrameworkArduino"), core_dir,
                                 src_filter="+<*> -<wiring_pulse.S>")
pulse_asm = core_env.StaticLibrary(join("$BUILD_DIR", "FrameworkArduinoAsm"), core_env.Object(
    join("$BUILD_DIR", "FrameworkArduinoAsm", "wiring_pulse_asm.o"), join(core_dir, "wiring_pulse.S")))
env.Prepend(LIBS=[core_lib, pulse_asm])
