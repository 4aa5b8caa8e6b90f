"""FULLY_CONNECTED: per-tensor or per-channel int8 weights (TFLM's FullyConnectedParamsQuantized);
the C kernel's fast variant folds the input offset into the bias at generation time."""

from codegen.errors import MlcError
from codegen.ops import define
from codegen.ops.conv import halfword_weights, requant_params
from codegen.ops.kernel_plan import KernelPlan
from codegen.ops.thresholds import (CHANNEL_QUAD, FC_UNROLL_MAX_DEPTH, FC_HALFWORD_LOOP_STEPS, FC_HALFWORD_MAX_BYTES,
                                   FC_HALFWORD_ROWS, MAX_UNROLLED_LINES, VECTOR_BYTES)
from codegen.ops.requant import requant_consts, requant_vars, wide, wide_c, wide_plan


def _fc_macs(op):
    units, depth = op.inputs[1].shape
    return op.inputs[0].size // depth * units * depth


def fully_connected_params(op):
    x, w, out = op.inputs[0], op.inputs[1], op.outputs[0]
    if len(w.shape) != 2 or x.size % w.shape[1]:
        raise MlcError(f"weights shape {w.shape} does not fit input shape {x.shape}")
    if op.options.get("weights_format", 0) != 0:
        raise MlcError("shuffled FULLY_CONNECTED weights are not supported")
    if out.size != x.size // w.shape[1] * w.shape[0]:
        raise MlcError(f"output shape {out.shape} does not hold {x.size // w.shape[1]} x {w.shape[0]} results")
    params = requant_params(op, w.shape[0])
    return {**params, "batches": x.size // w.shape[1], "depth": w.shape[1], "units": w.shape[0]}


def _halfwords(op, isa, alone):
    """Why the halfword (int16) weight layout is taken, or None: DSP cores only (Helium and portable C keep int8),
    one ISA in the library (a portable one shares its int8 weights), a whole step of 4 inputs, and
    weights of at most FC_HALFWORD_MAX_BYTES (their flash doubles)."""
    units, depth = op.inputs[1].shape
    if isa != "dsp" or not alone or depth < 4 or units * depth > FC_HALFWORD_MAX_BYTES:
        return None
    return (f"int16 weights in groups of {FC_HALFWORD_ROWS} units: one ldrd feeds two smlad; "
            f"{units * depth} B int8 <= {FC_HALFWORD_MAX_BYTES} B, so twice that in flash")


def fully_connected_plan(op, isa, reference, inplace, alone):
    if wide(op):
        return wide_plan(op, isa, inplace, "[units][depth] int8")
    if reference:
        return KernelPlan(op.index, op.kind, "reference", isa, weights="[units][depth] int8",
                          why={"variant": "the reference loop nest was asked for"}, options={"halfwords": False})
    p = op.params
    d = p["depth"]
    halfwords = _halfwords(op, isa, alone)
    if halfwords:
        steps, rest = d // 4, p["units"] % FC_HALFWORD_ROWS
        # lines of a step in fully_connected_s8.c.j2 (6 + 2 a unit), for the full groups and the last one
        step_lines = 6 + 2 * FC_HALFWORD_ROWS + (6 + 2 * rest if rest else 0)
        loop = steps * step_lines > MAX_UNROLLED_LINES
        why = {"variant": "input offset folded into the bias; " + halfwords,
               "channels": f"{FC_HALFWORD_ROWS} units per pass: each input word unpacked once for all of them",
               "unroll": (f"{steps} steps of {step_lines} lines > {MAX_UNROLLED_LINES}: a loop of {FC_HALFWORD_LOOP_STEPS}"
                          if loop else f"{steps} steps of {step_lines} lines <= {MAX_UNROLLED_LINES}: fully unrolled")}
        return KernelPlan(op.index, op.kind, "fast", isa, channels=FC_HALFWORD_ROWS,
                          unroll=f"{FC_HALFWORD_LOOP_STEPS} steps a pass" if loop else f"full ({steps * step_lines} lines)",
                          unroll_budget=MAX_UNROLLED_LINES,
                          weights=f"[units/{FC_HALFWORD_ROWS}][depth/4][{FC_HALFWORD_ROWS}][4] int16 (0 2 1 3)", why=why,
                          options={"halfwords": True, "rows": FC_HALFWORD_ROWS, "steps": steps,
                                   "loop_steps": FC_HALFWORD_LOOP_STEPS if loop else 0})
    # lines of dot2_unrolled (dot_s8.j2): a DSP step of 4 bytes is 12, a Helium vector 6, a scalar byte 2
    unrolled_lines = {"dsp": d // 4 * 12 + d % 4 * 2, "mve": -(-d // VECTOR_BYTES) * 6}.get(isa, 2 * d)
    short = d <= FC_UNROLL_MAX_DEPTH and unrolled_lines <= MAX_UNROLLED_LINES
    quads = p["units"] >= CHANNEL_QUAD and (isa == "mve" or not short)
    why = {"variant": "input offset folded into the bias: plain int8 dot products",
           "channels": ("four units per pass: each input serves four dot products" if quads else
                        f"two units per pass (depth {p['depth']} <= {FC_UNROLL_MAX_DEPTH}: fully unrolled)" if short
                        else "two units per pass"),
           "unroll": (f"depth {d} <= {FC_UNROLL_MAX_DEPTH}, {unrolled_lines} lines <= {MAX_UNROLLED_LINES}" if short
                      else f"depth {d} > {FC_UNROLL_MAX_DEPTH}: a loop")}
    return KernelPlan(op.index, op.kind, "fast", isa, channels=4 if quads else 2,
                      unroll=f"full ({unrolled_lines} lines)" if short else "loop", unroll_budget=MAX_UNROLLED_LINES,
                      weights="[units][depth] int8", why=why, options={"halfwords": False, "quads": quads, "unrolled": short})


def fully_connected_c(layer):
    p, w, plan = layer.p, layer.op.inputs[1].data, layer.kernel_plan
    if wide(layer.op):
        return wide_c(layer, "fully_connected_s16.c.j2", "fully_connected_s16", p["units"], batches=p["batches"],
                       depth=p["depth"], units=p["units"])
    rq = requant_consts(layer, p["units"], w, folded=not layer.reference)
    fn = layer.kernel("fully_connected_s8.c.j2", f"fully_connected_s8_{plan.variant}",
                      **rq, batches=p["batches"], depth=p["depth"], units=p["units"],
                      **requant_vars(p))
    weights = (layer.const("weights", halfword_weights(w, plan.options["rows"]), "int16_t")
               if plan.options["halfwords"] else layer.const("weights", w, "int8_t"))
    return f"{fn}({layer.inp(0)}, {layer.out(0)}, {weights}, {rq['bias']}, {rq['mult']}, {rq['shift']});"


define("FULLY_CONNECTED", arity=(2, 3), derive=fully_connected_params, emit=fully_connected_c, macs=_fc_macs, plan=fully_connected_plan, templates=("fully_connected_s8.c.j2", "fully_connected_s16.c.j2"), dtypes=("int8", "int16"))
