"""What an emitter works with: the Unit (one generated library: flash constants, specialised
kernels, includes) and the Layer (one op: its pointers in the arena, its scratch, its constants)."""
from __future__ import annotations

import numpy as np

from codegen.assets import templates
from codegen.csyntax import c_type
from codegen.ops import definition
from codegen.ops.kernel_plan import ISAS

_PLACEHOLDER = "MLC_KERNEL_FN"


class Unit:
    """The state of one generated library while its layers are emitted."""

    def __init__(self, name: str, reference: bool = False, isa: str | None = None, io_vars=None):
        self.name = name
        self.io_vars = io_vars or {}  # ("input" / "output", k) -> NAME_run's pointer variable for it
        self.reference = reference
        self.isas = (isa,) if isa else ISAS  # no core given: a portable library holds every ISA's kernels
        self.env = templates()
        self.consts = []  # (symbol, ctype, values)
        self._const_keys = {}
        self.kernels = []  # rendered function text, in first-use order
        self._kernel_names = {}  # rendered text (with placeholder) -> function name
        self._kernel_count = {}
        self.includes = []  # extra headers from templates/kernels/ to copy and #include
        self.state = []  # (symbol, ctype, initial values): arrays kept across inferences, set back by NAME_reset()

    def const(self, symbol: str, values, ctype: str) -> str:
        """A `static const` flash array; identical contents share one symbol."""
        values = np.ascontiguousarray(values)
        key = (ctype, values.shape, values.tobytes())
        if key not in self._const_keys:
            self._const_keys[key] = symbol
            self.consts.append((symbol, ctype, values))
        return self._const_keys[key]

    def kernel(self, template: str, base: str, plans: dict, **variables) -> str:
        """Render templates/kernels/<template> into a static function, once per ISA of the library with
        that ISA's plan (`isa`, `variant` and the plan's options are template variables); identical
        renderings share one. The template names its function {{ fn }}; the result is NAME_<base>_<n>.
        Where the ISAs' renderings differ, each whole function goes under its own #if."""
        template = self.env.get_template(f"kernels/{template}")
        renderings = {isa: template.render(fn=_PLACEHOLDER, isa=isa, variant=plans[isa].variant,
                                           **plans[isa].options, **variables) for isa in self.isas}
        text = _one_per_isa(renderings)
        if text not in self._kernel_names:
            n = self._kernel_count.get(base, 0)
            self._kernel_count[base] = n + 1
            fn = f"{self.name}_{base}_{n}"
            self._kernel_names[text] = fn
            self.kernels.append(text.replace(_PLACEHOLDER, fn))
        return self._kernel_names[text]

    def state_array(self, symbol: str, initial, ctype: str) -> str:
        """A static RAM array an op keeps across inferences (its variable tensors), `initial` at start-up
        and after NAME_reset()."""
        self.state.append((symbol, ctype, np.ascontiguousarray(initial)))
        return symbol

    def include(self, header: str) -> None:
        if header not in self.includes:
            self.includes.append(header)

    def weight_bytes(self) -> int:
        return sum(int(v.size) * np.dtype({"int8_t": np.int8, "uint8_t": np.uint8, "int16_t": np.int16, "uint16_t": np.uint16,
                                           "int32_t": np.int32, "int64_t": np.int64, "float": np.float32, "mlc_requant_t": np.int32}[c]).itemsize
                   for _, c, v in self.consts)


_CONDITION = {"mve": "MLC_MVE", "dsp": "MLC_DSP"}  # mlc_port.h: MLC_DSP is 1 on Helium cores too


def _one_per_isa(renderings: dict) -> str:
    """One function per distinct rendering, CMSIS-NN style: `#if MLC_MVE ... #elif MLC_DSP ... #else
    ... #endif` around whole functions (an ISA whose rendering equals the next one's shares its branch)."""
    isas = [isa for isa in ISAS if isa in renderings]
    branches = []  # (isa, text): each distinct rendering once, at the last ISA that has it in a run
    for i, isa in enumerate(isas):
        if i + 1 < len(isas) and renderings[isas[i + 1]] == renderings[isa]:
            continue
        branches.append((isa, renderings[isa]))
    if len(branches) == 1:
        return branches[0][1]
    out = []
    for i, (isa, text) in enumerate(branches):
        if i == len(branches) - 1:
            out.append("#else\n" if isa == "portable" else f"#elif {_CONDITION[isa]}\n")
        else:
            out.append(f"{'#if' if i == 0 else '#elif'} {_CONDITION[isa]}\n")
        out.append(text if text.endswith("\n") else text + "\n")
    return "".join(out) + "#endif\n"


class Layer:
    """One op as its emitter sees it."""

    def __init__(self, unit: Unit, op, plan):
        self.unit, self.op, self.p = unit, op, op.params
        self.plan = plan
        self.inplace = op.index in plan.inplace
        self.reference = unit.reference
        self.plans = plan.kernels.get(op.index, {})  # {isa: KernelPlan}, one per ISA (none for aliases)
        self.kernel_plan = self.plans.get(unit.isas[-1])  # for the choices every ISA shares (variant, weights)
        d = definition(op.kind)
        # a per-image op on a batch over 1 (after SPACE_TO_BATCH_ND): its statements run in generate's loop over
        # `image`, input 0 and the output one image further each time
        self.images = op.inputs[0].shape[0] if d is not None and d.per_image else 1

    def _ptr(self, tensor, writable: bool) -> str:
        if tensor.view:  # rows of a whole tensor (codegen.lower.patches)
            whole, offset = tensor.view
            return f"({self._ptr(whole, writable)} + {offset // np.dtype(tensor.dtype).itemsize})"
        const = "" if writable else "const "
        io = self.plan.io.get(tensor.index)
        if io is not None:  # NAME_run's opaque pointers to the model inputs' and outputs' bytes
            return f"({const}{c_type(tensor.dtype)} *){self.unit.io_vars[io]}"
        return f"{self.unit.name}_AT({const}{c_type(tensor.dtype)}, {offset_name(self.unit.name, tensor)})"

    def inp(self, i: int = 0) -> str:
        """Pointer expression (const) to the op's i-th input; constants become flash arrays."""
        t = self.op.inputs[i]
        if t.is_const:
            return self.const(f"in{i}", t.data, c_type(t.dtype))
        return self._image(self._ptr(t, writable=False), t) if i == 0 else self._ptr(t, writable=False)

    def ptr(self, tensor) -> str:
        """Writable pointer expression to any arena tensor of the model (a patches row buffer, say)."""
        return self._ptr(tensor, writable=True)

    def out(self, i: int = 0) -> str:
        return self._image(self._ptr(self.op.outputs[i], writable=True), self.op.outputs[i])

    def _image(self, ptr: str, tensor) -> str:
        return f"({ptr} + image * INT32_C({tensor.size // self.images}))" if self.images > 1 else ptr

    def result(self, i: int = 0) -> str:
        """Read-only pointer to the op's i-th output, for the debug dump: a view's whole tensor."""
        t = self.op.outputs[i]
        return self._ptr(t.view[0] if t.view else t, writable=False)

    def scratch(self) -> str:
        """Pointer to this layer's scratch (the most its plans ask for), or a null pointer if none does."""
        if self.op.index not in self.plan.scratch:
            return "(int8_t *)0"
        return f"{self.unit.name}_AT(int8_t, {self.unit.name}_L{self.op.index}_SCRATCH)"

    def const(self, suffix: str, values, ctype: str) -> str:
        return self.unit.const(f"{self.unit.name}_l{self.op.index}_{suffix}", values, ctype)

    def state(self, suffix: str, initial, ctype: str) -> str:
        return self.unit.state_array(f"{self.unit.name}_l{self.op.index}_{suffix}", initial, ctype)

    def kernel(self, template: str, base: str, **variables) -> str:
        return self.unit.kernel(template, base, self.plans, **variables)


def offset_name(name: str, tensor) -> str:
    return f"{name}_T{tensor.index}_OFFSET"
