"""C identifiers for generated libraries: the NAME prefix must be a valid, non-reserved C identifier."""
import re

from codegen.errors import MlcError

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int
long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert
_Thread_local bool true false asm
""".split())
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_identifier(name: str) -> str:
    """Accept `name` as a C prefix or raise MlcError saying why not."""
    if not _IDENT.match(name or ""):
        raise MlcError(f"--name '{name}' is not a C identifier (letters, digits and _, not starting with a digit)")
    if name in C_KEYWORDS:
        raise MlcError(f"--name '{name}' is a C keyword; choose another name")
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        raise MlcError(f"--name '{name}' is reserved for the C implementation (leading __ or _ and a capital)")
    return name


def identifier_from(stem: str) -> str:
    """A valid C identifier made from a file stem: other characters become _, a leading digit gets m_."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem).strip("_") or "model"
    if name[0].isdigit():
        name = "m_" + name
    if name in C_KEYWORDS:
        name += "_model"
    return check_identifier(name)
