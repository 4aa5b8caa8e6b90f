"""Build script of the mlc_emulated platform: system cross compilers, no downloaded toolchain.

The board manifest (written by mlc into the project's boards/ folder) gives build.arch ("arm" or "avr"),
build.machine_flags, build.optimize and build.defines; `upload` runs the firmware in its emulator through mlc."""
from os.path import join

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
arch = board.get("build.arch")
machine_flags = list(board.get("build.machine_flags"))
optimize = board.get("build.optimize", "-Os")  # -O2 on the emulated Cortex-M boards, where speed is measured
prefix = {"arm": "arm-none-eabi-", "avr": "avr-"}[arch]

env.Replace(
    AR=prefix + "gcc-ar",
    AS=prefix + "gcc",
    CC=prefix + "gcc",
    CXX=prefix + "g++",
    GDB=prefix + "gdb",
    OBJCOPY=prefix + "objcopy",
    RANLIB=prefix + "gcc-ranlib",
    SIZETOOL=prefix + "size",
    ARFLAGS=["rc"],
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.ARM\.exidx|\.isr_vector)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)
env.Append(
    ASFLAGS=machine_flags + ["-x", "assembler-with-cpp"],
    # -ffp-contract=off: float32 layers are one IEEE operation each, as in TFLM (mlc_float.h also says so per kernel)
    CCFLAGS=machine_flags + [optimize, "-ffp-contract=off", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"],
    CFLAGS=["-std=c99"],
    CPPDEFINES=[tuple(d) if isinstance(d, list) else d for d in board.get("build.defines", [])],
    LINKFLAGS=machine_flags + [optimize, "-Wl,--gc-sections"],
    LIBS=["m"],
)

if arch == "arm":
    # The project brings its own start-up code and linker script (board_build.ldscript).
    env.Append(LINKFLAGS=["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs"])
    env.Append(LIBS=["c", "nosys"])
else:
    env.Append(CXXFLAGS=["-std=gnu++11", "-fpermissive", "-fno-exceptions", "-fno-threadsafe-statics"],
               CCFLAGS=["-DDECIMAL_DIG=9"])

env.Append(BUILDERS=dict(ElfToHex=Builder(
    action=env.VerboseAction("$OBJCOPY -O ihex -R .eeprom $SOURCES $TARGET", "Building $TARGET"), suffix=".hex")))

program = env.BuildProgram()
firmware_hex = env.ElfToHex(join("$BUILD_DIR", "${PROGNAME}"), program) if arch == "avr" else None

# "Upload" starts the board's emulator with the firmware and the UART on this terminal.
upload = env.Alias("upload", program, env.VerboseAction(
    '"$PYTHONEXE" -m codegen.device.emulator --board %s $SOURCE' % board.get("build.mlc_board"), "Running in the emulator"))
AlwaysBuild(upload)

Default([program] + ([firmware_hex] if firmware_hex else []))
