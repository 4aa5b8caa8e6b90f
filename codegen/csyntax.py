"""C syntax for generated libraries: the NAME prefix (a valid, non-reserved C identifier), C types
and literals."""
import re

import numpy as np

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


C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "float32": "float"}


def c_type(dtype: str) -> str:
    return C_TYPES[dtype]


def c_literal(value, ctype: str) -> str:
    if ctype == "float":
        return f"{float(np.float32(value))!r}f".replace("inff", "INFINITY")
    v = int(value)
    if ctype == "int32_t" and v == -(1 << 31):
        return "INT32_MIN"
    if ctype == "int64_t" and not -(1 << 31) < v < (1 << 31):
        return "INT64_MIN" if v == -(1 << 63) else f"INT64_C({v})"
    return str(v)


# record types of mlc_port.h: their fields in order (every field int32_t); a table of them is an array
# [count, len(fields)] of values, written with designated initialisers
C_STRUCTS = {"mlc_requant_t": ("multiplier", "addend")}


def c_count(values, ctype: str) -> int:
    """The number of elements of a C array of ctype holding `values`."""
    values = np.asarray(values)
    return int(values.size) // len(C_STRUCTS[ctype]) if ctype in C_STRUCTS else int(values.size)


def c_array_body(values, ctype: str, per_line: int = 16) -> str:
    if ctype in C_STRUCTS:
        fields = C_STRUCTS[ctype]
        rows = np.asarray(values).reshape(-1, len(fields))
        return ",\n".join("    { " + ", ".join(f".{f} = {c_literal(v, 'int32_t')}" for f, v in zip(fields, row)) + " }"
                           for row in rows)
    items = [c_literal(v, ctype) for v in np.ravel(values)]
    return ",\n".join("    " + ", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line))


_GENERIC_IO_NAME = re.compile(r"(input|output|in|out)_?\d*|(Stateful)?PartitionedCall\w*|Identity\w*", re.IGNORECASE)


def io_identifiers(names: list, fallback: str) -> list:
    """C identifiers for a model's inputs (or outputs), from their tensor or signature names: the converter's
    'serving_default_' prefix and ':0' suffix dropped, other characters made _. Names that are generic
    ('StatefulPartitionedCall:1', 'output_0'), not identifiers, keywords, too long or ending in _t (the
    typedefs' suffix), and duplicates, become fallback0, fallback1, ... by position."""
    ids = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", re.sub(r":\d+$", "", name).removeprefix("serving_default_")).strip("_")
        usable = (_IDENT.match(base) and base not in C_KEYWORDS and len(base) <= 24
                  and not _GENERIC_IO_NAME.fullmatch(base) and not base.endswith("_t"))
        ids.append(base if usable else None)
    return [ident if ident is not None and ids.count(ident) == 1 else f"{fallback}{k}" for k, ident in enumerate(ids)]
