"""PlatformIO development platform for mlc's emulated boards; it needs no packages from a registry."""
from platformio.public import PlatformBase


class Mlc_emulatedPlatform(PlatformBase):  # PlatformIO derives the class name from "mlc_emulated"
    pass
