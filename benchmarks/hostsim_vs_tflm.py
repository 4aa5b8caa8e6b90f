"""hostsim vs TFLM's interpreter: inferences per second on the same machine, side by side.

    python benchmarks/hostsim_vs_tflm.py [--models kws_ref_model ...] [--n 512] [--blas-threads 1]

hostsim runs a stack of N inputs in one call ("stacked") and also one input per call ("single");
TFLM (tflite-micro, reference kernels) runs one input per invoke, as it works. Every output is checked
bit-exact against TFLM while timing. The default of one BLAS thread makes it a same-core comparison
(TFLM is single-threaded; extra BLAS threads also slow small products down on a busy machine).
Exits 1 if hostsim (stacked) is slower than TFLM on kws_ref_model.
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.paths import MODELS  # noqa: E402


def _args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["hello_world_int8", "ad01_int8", "micro_speech_quantized", "kws_ref_model"])
    parser.add_argument("--models-dir", default=str(MODELS))
    parser.add_argument("--n", type=int, default=512, help="inputs per stacked run")
    parser.add_argument("--single", type=int, default=100, help="inputs timed one per call (hostsim single, TFLM)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    parser.add_argument("--blas-threads", default="1", help="OPENBLAS/OMP threads for numpy ('' = leave as is)")
    return parser.parse_args()


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench(path: Path, n: int, single: int, repeats: int) -> dict:
    import numpy as np

    from codegen.model import tflm as reference
    from codegen.ops import load
    from hostsim import run

    graph = load(path)
    t = graph.inputs[0]
    info = np.iinfo(t.dtype)
    x = np.random.default_rng(0).integers(info.min, info.max, (n, *t.shape[1:]), dtype=t.dtype, endpoint=True)
    interp = reference.interpreter(path)
    ones = [x[i:i + 1] for i in range(single)]

    def tflm():
        for xi in ones:
            interp.set_input(xi.reshape(t.shape), 0)
            interp.invoke()
            interp.get_output(0)

    stacked_s = _best(lambda: run(graph, x), repeats)
    single_s = _best(lambda: [run(graph, xi) for xi in ones], repeats)
    tflm_s = _best(tflm, repeats)
    want = reference.run(path, x, interp=interp).outputs[0]
    exact = bool(np.array_equal(run(graph, x).reshape(want.shape), want))
    return {"model": path.stem, "macs": sum(op.macs for op in graph.ops), "stacked": n / stacked_s,
            "single": single / single_s, "tflm": single / tflm_s, "exact": exact}


def main() -> int:
    args = _args()
    if args.blas_threads:  # must be set before numpy loads its BLAS
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = args.blas_threads
    from rich.console import Console
    from rich.table import Table

    rows = [bench(Path(args.models_dir) / f"{m}.tflite", args.n, args.single, args.repeats) for m in args.models]
    table = Table(title=f"inferences/s (hostsim stacked N={args.n}; single and TFLM: one input per call; "
                        f"BLAS threads: {args.blas_threads or 'default'})")
    for col in ("model", "MACs", "hostsim stacked", "hostsim single", "TFLM", "stacked/TFLM", "single/TFLM", "bit-exact"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(r["model"], f"{r['macs']:,}", f"{r['stacked']:,.0f}", f"{r['single']:,.0f}", f"{r['tflm']:,.0f}",
                      f"{r['stacked'] / r['tflm']:.2f}x", f"{r['single'] / r['tflm']:.2f}x", "yes" if r["exact"] else "NO")
    Console(width=150).print(table)
    kws = [r for r in rows if r["model"] == "kws_ref_model"]
    failed = [r for r in rows if not r["exact"]] + [r for r in kws if r["stacked"] < r["tflm"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
