"""BATCH_MATMUL (int8, or int16 with zero points 0) as TFLM's batch_matmul kernel: out[..., m, n] =
sum_k (lhs[..., m, k] - lhs_zp) * (rhs[..., k, n] - rhs_zp), requantized with one per-tensor multiplier
(lhs_scale * rhs_scale / out_scale, as GetQuantizedConvolutionMultipler) and no fused activation.
adj_x / adj_y say an operand is stored transposed; batch dimensions broadcast (either operand may
be a constant). The C kernel walks each operand with element steps worked out here, so a transposed
operand costs nothing extra. With the DSP extension (int8) the offset-added operands are widened to
halfwords in scratch (rhs column by column per batch, lhs row by row) and multiplied two by two with SMLAD."""
import numpy as np

from codegen.csyntax import c_type
from codegen.errors import MlcError
from codegen.model.quant import quantize_multiplier
from codegen.ops import define, per_tensor_quantized
from codegen.ops.kernel_plan import KernelPlan

DTYPES = ("int8", "int16")


def _extended(shape, rank):
    return [1] * (rank - len(shape)) + list(shape)


def batch_matmul_params(op):
    lhs, rhs, out = op.inputs[0], op.inputs[1], op.outputs[0]
    per_tensor_quantized(op, lhs, DTYPES)
    for t in (rhs, out):
        per_tensor_quantized(op, t, (lhs.dtype,))
    if lhs.dtype == "int16" and (lhs.quant.zp or rhs.quant.zp or out.quant.zp):
        raise MlcError(f"int16 BATCH_MATMUL needs zero points 0 (TFLM asserts it); '{lhs.name}', '{rhs.name}', "
                       f"'{out.name}' have {lhs.quant.zp}, {rhs.quant.zp}, {out.quant.zp}")
    if not all(2 <= len(t.shape) <= 5 for t in (lhs, rhs)):
        raise MlcError(f"operands of rank {len(lhs.shape)} and {len(rhs.shape)}; TFLM's BATCH_MATMUL takes ranks 2 to 5")
    for t in (lhs, rhs):
        if not t.is_const and t.shape[0] != 1:
            raise MlcError(f"tensor '{t.name}' has shape {t.shape}; mlc needs a leading batch dimension of 1 "
                           "(convert the model with batch size 1)")
    rank = max(len(lhs.shape), len(rhs.shape))
    ls, rs = _extended(lhs.shape, rank), _extended(rhs.shape, rank)
    adj_x, adj_y = bool(op.options.get("adj_x", False)), bool(op.options.get("adj_y", False))
    rows, depth = (ls[-1], ls[-2]) if adj_x else (ls[-2], ls[-1])
    rdepth, cols = (rs[-1], rs[-2]) if adj_y else (rs[-2], rs[-1])
    batch = []
    for a, b in zip(ls[:-2], rs[:-2]):
        if a != b and 1 not in (a, b):
            raise MlcError(f"batch dimensions of {lhs.shape} and {rhs.shape} do not broadcast")
        batch.append(max(a, b))
    if depth != rdepth:
        raise MlcError(f"{lhs.shape}{' (adj_x)' if adj_x else ''} times {rhs.shape}{' (adj_y)' if adj_y else ''}: "
                       f"depths {depth} and {rdepth} differ")
    if list(out.shape) != batch + [rows, cols]:
        raise MlcError(f"output shape {out.shape} is not {batch + [rows, cols]}")
    effective = float(np.float64(lhs.quant.s)) * float(np.float64(rhs.quant.s)) / float(np.float64(out.quant.s))
    multiplier, shift = quantize_multiplier(effective)
    info = np.iinfo(out.dtype)
    return {"dtype": lhs.dtype, "rank": rank, "batch": batch, "rows": rows, "depth": depth, "cols": cols,
            "adj_x": adj_x, "adj_y": adj_y, "lhs_offset": -lhs.quant.zp, "rhs_offset": -rhs.quant.zp,
            "output_offset": out.quant.zp, "multiplier": int(multiplier), "shift": int(shift),
            "act_min": int(info.min), "act_max": int(info.max)}


def _batch_steps(shape, rank, batch):
    """Element step of each output batch dimension in an operand (0 where it is broadcast)."""
    ext = _extended(shape, rank)
    steps = [int(np.prod(ext[d + 1:])) for d in range(len(batch))]
    return [s if ext[d] != 1 else 0 for d, s in enumerate(steps)]


def _halfword_bytes(p) -> int:
    """Scratch of the halfwords variant: every rhs column and one lhs row, int16, depth rounded up to pairs."""
    return 2 * (p["cols"] + 1) * (p["depth"] + p["depth"] % 2)


def batch_matmul_plan(op, isa, reference, inplace, alone):
    p = op.params
    if reference or isa == "portable" or p["dtype"] == "int16":
        why = ("the reference loop nest was asked for" if reference else
               "int16: two products of up to 2^30 overflow one SMLAD" if p["dtype"] == "int16" else "no DSP extension")
        return KernelPlan(op.index, op.kind, "reference", isa, inplace=inplace, why={"variant": why})
    return KernelPlan(op.index, op.kind, "halfwords", isa, channels=2, scratch=_halfword_bytes(p), inplace=inplace,
                      why={"variant": "operands plus offsets widened to halfwords once (rhs per batch, lhs per row): "
                                      "one SMLAD per two MACs",
                           "channels": "two rhs columns per pass share each lhs word"})


def batch_matmul_c(layer):
    p, (lhs, rhs) = layer.p, layer.op.inputs[:2]
    rows, depth, cols = p["rows"], p["depth"], p["cols"]
    lsteps, rsteps = _batch_steps(lhs.shape, p["rank"], p["batch"]), _batch_steps(rhs.shape, p["rank"], p["batch"])
    loops = [(n, ls, rs) for n, ls, rs in zip(p["batch"], lsteps, rsteps) if n > 1]  # size-1 dimensions step nowhere
    fn = layer.kernel("batch_matmul_s8.c.j2", f"batch_matmul_{'s16' if p['dtype'] == 'int16' else 's8'}",
                      t=c_type(p["dtype"]), loops=loops, rows=rows, depth=depth, cols=cols,
                      lhs_row=1 if p["adj_x"] else depth, lhs_k=rows if p["adj_x"] else 1,
                      rhs_k=1 if p["adj_y"] else cols, rhs_col=depth if p["adj_y"] else 1,
                      lhs_const=lhs.is_const, rhs_const=rhs.is_const, wide=p["dtype"] == "int16",
                      lhs_offset=p["lhs_offset"], rhs_offset=p["rhs_offset"], out_offset=p["output_offset"],
                      mult=p["multiplier"], shift=p["shift"], act_min=p["act_min"], act_max=p["act_max"],
                      adj_x=p["adj_x"], adj_y=p["adj_y"], depth2=p["depth"] + p["depth"] % 2)
    return f"{fn}({layer.inp(0)}, {layer.inp(1)}, {layer.out(0)}, (int16_t *)(void *){layer.scratch()});"


def _macs(op):
    p = op.params
    return int(np.prod(p["batch"])) * p["rows"] * p["depth"] * p["cols"]


define("BATCH_MATMUL", arity=(2, 2), derive=batch_matmul_params, emit=batch_matmul_c, macs=_macs, plan=batch_matmul_plan,
       templates=("batch_matmul_s8.c.j2",), dtypes=DTYPES)
