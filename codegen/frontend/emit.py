"""Render a Frontend record as the fused fixed-point C front end (templates/frontend): NAME.h and NAME.c.

Every constant becomes a typed static const table or literal at generation time: the file's window, filter
bank and PCAN tables, kissfft's twiddles and input order, the log's segment table. The filter bank's bands
are cut to the bins the energy stage can make non-zero (the others are zero, so their terms add nothing),
which lets the C compute the energy of those bins only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.assets import templates
from codegen.csyntax import c_array_body, check_identifier
from codegen.errors import MlcError
from codegen.frontend.params import Frontend
from codegen.frontend.tables import LOG_COEFF, LOG_LUT, input_order, stage_twiddles, super_twiddles

# What NAME_DEBUG_DUMP reports, in stage-number order, named as hostsim.frontend's stages (the scaled frame is never stored: the auto scale's
# shift happens as the FFT loads its input; the energy is that of the live bins only).
DUMP_STAGES = ("windowed", "scale bits", "spectrum", "energy", "filter bank", "square root", "subtracted",
               "noise estimate", "pcan", "log", "features")
GLUE_C = {"MUL": "v = v * {c};", "ADD": "v = v + {c};", "SUB": "v = v - {c};", "DIV": "v = v / {c};",
          "MINIMUM": "v = v < {c} ? v : {c};", "MAXIMUM": "v = v > {c} ? v : {c};"}


@dataclass(frozen=True)
class Rendered:
    name: str
    files: dict  # file name -> text
    scratch_bytes: int
    state_bytes: int


def _bands(fe: Frontend) -> tuple[list, list, list]:
    """(start, width, first weight) per band, cut to the live bins."""
    lo, hi = fe.live_bins
    fb = fe.filter_bank
    starts, widths, firsts = [], [], []
    for band in range(fb.num_channels + 1):
        f, s, n = int(fb.frequency_starts[band]), int(fb.weight_starts[band]), int(fb.widths[band])
        a, b = max(f, lo), min(f + n, hi)
        if a >= b:
            a = b = lo
        starts.append(a)
        widths.append(b - a)
        firsts.append(s + (a - f) if b > a else 0)
    return starts, widths, firsts


def _cpx_body(pairs: np.ndarray) -> str:
    items = [f"{{{int(r)}, {int(i)}}}" for r, i in pairs]
    return ",\n".join("    " + ", ".join(items[k:k + 8]) for k in range(0, len(items), 8))


def rfft_values(fft_length: int) -> dict:
    """What templates/frontend/rfft_q15.c.j2 (the fixed-point real FFT, included by a C template) needs."""
    n = fft_length // 2
    stage_table, stages = stage_twiddles(n)
    return dict(fft_length=fft_length, order=c_array_body(input_order(n), "uint16_t"), twiddles=_cpx_body(stage_table),
                n_twiddles=len(stage_table), super_twiddles=_cpx_body(super_twiddles(n)), stages=stages)


def render(fe: Frontend, name: str) -> Rendered:
    check_identifier(name)
    fb = fe.filter_bank
    for label, table in (("weights", fb.weights), ("unweights", fb.unweights)):
        if (table < 0).any():
            k = int(np.argmax(table < 0))
            raise MlcError(f"{fe.path}: SignalFilterBank: {label}[{k}] = {int(table[k])} is negative; mlc's C "
                           "front end accumulates non-negative weights")
    n = fe.fft_length // 2
    lo, hi = fe.live_bins
    starts, widths, firsts = _bands(fe)
    spectrum_offset = -(-max(2 * fe.fft_length, 4 * hi) // 4) * 4
    channel_bytes = 3 * 4 * fe.num_channels + 2 * fe.num_channels
    scratch = spectrum_offset + max(4 * (n + 1), -(-channel_bytes // 4) * 4)
    lut = fe.pcan.gain_lut
    ss = fe.spectral_subtraction
    values = dict(
        **rfft_values(fe.fft_length), name=name, source=Path(fe.path).name, frame_length=fe.frame_length,
        channels=fe.num_channels, live=(lo, hi), spectrum_offset=spectrum_offset, scratch_bytes=scratch,
        state_bytes=fe.state_bytes, window=c_array_body(fe.window.weights, "int16_t"),
        window_shift=fe.window.shift, band_start=c_array_body(starts, "uint16_t"),
        band_width=c_array_body(widths, "uint16_t"), band_weight=c_array_body(firsts, "uint16_t"), n_weights=max(fb.weights.size, 1),
        weights=c_array_body(fb.weights if fb.weights.size else [0], "uint16_t"),
        unweights=c_array_body(fb.unweights if fb.unweights.size else [0], "uint16_t"),
        pcan_lut=c_array_body(lut, "int16_t"), pcan_lut_size=lut.size, pcan_snr_shift=fe.pcan.snr_shift,
        log_lut=c_array_body(LOG_LUT, "uint16_t"), log_lut_size=len(LOG_LUT), log_coeff=LOG_COEFF,
        log_output_scale=fe.log.output_scale, log_correction_bits=fe.log.input_correction_bits,
        ss=ss, steps=[GLUE_C[s.op].format(c=s.constant) for s in fe.steps],
        dump_stages=DUMP_STAGES)
    env = templates()
    files = {f"{name}.h": env.get_template("frontend/frontend.h.j2").render(**values),
             f"{name}.c": env.get_template("frontend/frontend.c.j2").render(**values)}
    return Rendered(name=name, files=files, scratch_bytes=scratch, state_bytes=fe.state_bytes)


def generate(fe: Frontend, out_dir, name: str = "frontend") -> Rendered:
    """Write NAME.h and NAME.c into out_dir."""
    rendered = render(fe, name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for file, text in rendered.files.items():
        (out / file).write_text(text)
    return rendered
