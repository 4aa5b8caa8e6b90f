/* mlc_port.h: the few target differences the generated C needs (flash placement, alignment,
 * reading constant data). Shared by every generated library; everything here is a macro or
 * static inline, so two libraries in one firmware never clash at link time. */
#ifndef MLC_PORT_H
#define MLC_PORT_H

#include <stdint.h>
#include <string.h>
#include <stddef.h>

#if defined(__GNUC__)
#define MLC_ALIGN(n) __attribute__((aligned(n)))
#else
#define MLC_ALIGN(n)
#endif

#if defined(__AVR__)
/* Harvard: const data stays in flash only with PROGMEM, and must be read with LPM. */
#include <avr/pgmspace.h>
#define MLC_FLASH PROGMEM
#define MLC_RD8(p) ((int8_t)pgm_read_byte(p))
#define MLC_RD16(p) ((int16_t)pgm_read_word(p))
#define MLC_RD32(p) ((int32_t)pgm_read_dword(p))
#define MLC_RD64(p) ((int64_t)(((uint64_t)pgm_read_dword((const uint32_t *)(p) + 1) << 32) | pgm_read_dword(p)))
#else
/* von Neumann: const data is already in flash (.rodata) and reads like RAM. */
#define MLC_FLASH
#define MLC_RD8(p) (*(const int8_t *)(p))
#define MLC_RD16(p) (*(const int16_t *)(p))
#define MLC_RD32(p) (*(const int32_t *)(p))
#define MLC_RD64(p) (*(const int64_t *)(p))
#endif

/* Two 16x16 multiply-accumulates per instruction (the DSP extension of Cortex-M4/M7/M33/M55), as
 * CMSIS-NN uses them: sxtb16 sign-extends bytes 0 and 2 of a word (ror8: bytes 1 and 3) into two
 * halfwords, smlad adds both halfword products to an accumulator. MLC_DSP is 1 where the target has
 * them; -DMLC_DSP_EMULATE runs the same code path anywhere, with C versions, so host tests cover it. */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && !defined(MLC_NO_DSP)
#define MLC_DSP 1
static inline uint32_t mlc_sxtb16(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t mlc_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t mlc_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* acc's two halfwords plus bytes 0 and 2 of x, sign-extended (sxtab16; ror8: bytes 1 and 3) */
static inline uint32_t mlc_sxtab16(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
static inline uint32_t mlc_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
/* lo, hi = the two words at p + byte offset off (4-aligned, a constant under 1020): one ldrd, which GCC
 * does not always form by itself when registers are short */
#define MLC_LDRD(lo, hi, p, off)                                                                 \
    __asm__("ldrd %0, %1, [%2, %3]" : "=r"(lo), "=r"(hi)                                         \
            : "r"(p), "n"(off), "m"(*(const uint32_t(*)[2])((const char *)(p) + (off))))
/* add + the high word of a * b, rounded: (add * 2^32 + a * b + 2^31) >> 32 (smmlar) */
static inline int32_t mlc_smmlar(int32_t a, int32_t b, int32_t add)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(add));
    return r;
}
/* acc + a halfword of a * a halfword of b, both signed: smla<x><y>, x and y b(ottom) or t(op) */
#define MLC_SMLA_XY(xy)                                                                    \
    static inline int32_t mlc_smla##xy(uint32_t a, uint32_t b, int32_t acc)                \
    {                                                                                      \
        int32_t r;                                                                         \
        __asm__("smla" #xy " %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));       \
        return r;                                                                          \
    }
MLC_SMLA_XY(bb)
MLC_SMLA_XY(tb)
MLC_SMLA_XY(bt)
MLC_SMLA_XY(tt)
#elif defined(MLC_DSP_EMULATE)
#define MLC_DSP 1
static inline uint32_t mlc_sxtb16(uint32_t x)
{
    return ((uint32_t)(uint16_t)(int16_t)(int8_t)(x & 0xffu)) |
           ((uint32_t)(uint16_t)(int16_t)(int8_t)((x >> 16) & 0xffu) << 16);
}
static inline uint32_t mlc_sxtb16_ror8(uint32_t x)
{
    return mlc_sxtb16((x >> 8) | (x << 24));
}
static inline uint32_t mlc_sxtab16(uint32_t acc, uint32_t x)
{
    const uint32_t e = mlc_sxtb16(x);
    return ((acc + e) & 0xffffu) | (((acc >> 16) + (e >> 16)) << 16); /* each halfword wraps on its own */
}
static inline uint32_t mlc_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    return mlc_sxtab16(acc, (x >> 8) | (x << 24));
}
static inline int32_t mlc_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t lo = (int32_t)(int16_t)(a & 0xffffu) * (int32_t)(int16_t)(b & 0xffffu);
    const int32_t hi = (int32_t)(int16_t)(a >> 16) * (int32_t)(int16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi); /* wraps like the instruction */
}
#define MLC_LDRD(lo, hi, p, off)                                                                 \
    do {                                                                                         \
        (lo) = ((const uint32_t *)(p))[(off) / 4];                                               \
        (hi) = ((const uint32_t *)(p))[(off) / 4 + 1];                                           \
    } while (0)
static inline int32_t mlc_smmlar(int32_t a, int32_t b, int32_t add)
{
    return (int32_t)(uint32_t)((uint64_t)((int64_t)a * b + (INT64_C(1) << 31)) >> 32) + add;
}
/* smla<x><y>: x picks a's half, y b's (0 bottom, 1 top), the product wraps into acc like the instruction */
#define MLC_HALF(v, top) ((int32_t)(int16_t)((top) ? (v) >> 16 : (v) & 0xffffu))
#define MLC_SMLA_XY(xy, ta, tb)                                                            \
    static inline int32_t mlc_smla##xy(uint32_t a, uint32_t b, int32_t acc)                \
    {                                                                                      \
        return (int32_t)((uint32_t)acc + (uint32_t)(MLC_HALF(a, ta) * MLC_HALF(b, tb)));   \
    }
MLC_SMLA_XY(bb, 0, 0)
MLC_SMLA_XY(tb, 1, 0)
MLC_SMLA_XY(bt, 0, 1)
MLC_SMLA_XY(tt, 1, 1)
#else
#define MLC_DSP 0
#endif

/* One step of the DSP conv's halfword dot products (dot_q15 in templates/kernels/dot_s8.j2), as two
 * macros so that an unrolled row is a line per pixel and step: MLC_Q15_WEIGHTS declares the next four
 * weights of two channels (at wp + wo and wp + n + wo) unpacked to halfword pairs (ae, ao, be, bo);
 * MLC_Q15_PIXEL multiplies them by one pixel's four inputs (two words of halfword pairs at byte offset
 * off from xp, one ldrd) into acc0 (channel 0) and acc1 (channel 1). */
#define MLC_Q15_WEIGHTS(wp, n, wo)                                                             \
    const uint32_t aw = mlc_load32((wp) + (wo)), bw = mlc_load32((wp) + (n) + (wo));           \
    const uint32_t ae = mlc_sxtb16(aw), ao = mlc_sxtb16_ror8(aw), be = mlc_sxtb16(bw), bo = mlc_sxtb16_ror8(bw)
#define MLC_Q15_PIXEL(xp, off, acc0, acc1)                                                     \
    do {                                                                                       \
        uint32_t xe, xo;                                                                       \
        MLC_LDRD(xe, xo, xp, off);                                                             \
        (acc0) = mlc_smlad(xo, ao, mlc_smlad(xe, ae, acc0));                                   \
        (acc1) = mlc_smlad(xo, bo, mlc_smlad(xe, be, acc1));                                   \
    } while (0)
/* ... with the weights stored as int16 halfword pairs (conv's halfword layout: per step a channel's
 * weights 0, 2, 1, 3, the next channel's 8 bytes on): one ldrd per channel, nothing to unpack.
 * MLC_Q15_WEIGHT1_HW and MLC_Q15_PIXEL1 are the one-channel forms (an odd channel count's last). */
#define MLC_Q15_WEIGHTS_HW(wp, off)                                                            \
    uint32_t ae, ao, be, bo;                                                                   \
    MLC_LDRD(ae, ao, wp, off);                                                                 \
    MLC_LDRD(be, bo, wp, (off) + 8)
#define MLC_Q15_WEIGHT1_HW(wp, off)                                                            \
    uint32_t ae, ao;                                                                           \
    MLC_LDRD(ae, ao, wp, off)
#define MLC_Q15_PIXEL1(xp, off, acc0)                                                          \
    do {                                                                                       \
        uint32_t xe, xo;                                                                       \
        MLC_LDRD(xe, xo, xp, off);                                                             \
        (acc0) = mlc_smlad(xo, ao, mlc_smlad(xe, ae, acc0));                                   \
    } while (0)

/* Helium (MVE, Cortex-M55/M85): 16 int8 lanes per vector. Kernels use it under `#if MLC_MVE`, ahead of
 * the DSP path (MLC_DSP stays 1 on these cores for the code MVE does not cover): vmladavaq_s8 adds 16
 * int8 products to a 32-bit accumulator, exactly like the scalar sum (it wraps the same); a row's tail is
 * one vctp8q-predicated step (vldrbq_z_s8 loads only the enabled lanes), no scalar loop.
 * There is no emulation: `mlc verify` on qemu-cortex-m55 checks it. -DMLC_NO_MVE turns the path off. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && defined(__GNUC__) && !defined(MLC_NO_MVE)
#define MLC_MVE 1
#include <arm_mve.h>
#else
#define MLC_MVE 0
#endif

/* Kernels stay out of line: each gets the register allocation of its own loops (inlined into
 * NAME_invoke, a single-use kernel's inner loop can lose registers to the caller's state). */
#if defined(__GNUC__)
#define MLC_NOINLINE __attribute__((noinline))
#else
#define MLC_NOINLINE
#endif

/* No instruction: from here on the compiler treats pointer p as a value it cannot see through, held in a
 * register (a constant address, e.g. into the arena after constant propagation, is otherwise rebuilt
 * from the literal pool for every access). */
#if defined(__GNUC__)
#define MLC_PIN(p) __asm__("" : "+r"(p))
#else
#define MLC_PIN(p) ((void)0)
#endif
/* No instruction; memory accesses are not moved across it (a compiler scheduling fence). */
#if defined(__GNUC__)
#define MLC_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define MLC_BARRIER() do { } while (0)
#endif

/* A (possibly unaligned) little-endian word of int8 data; one LDR where the core allows it. */
static inline uint32_t mlc_load32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Layer boundaries for `mlc bench` (codegen/device/bench.py): with MLC_BENCH_MARKS, an assembler label before each
 * layer (no instruction; found by address in the ELF's symbol table); otherwise nothing. */
#if defined(MLC_BENCH_MARKS) && defined(__GNUC__) && defined(__arm__)
#define MLC_LAYER_MARK(model, layer) __asm__ volatile("mlc_mark_" #model "_" #layer ":" ::: "memory")
/* the function holding the marks is never inlined (a one-layer model's would be, into its caller too): each
 * label then stands once */
#define MLC_MARKED __attribute__((noinline))
#else
#define MLC_LAYER_MARK(model, layer) do { } while (0)
#define MLC_MARKED
#endif

/* The short requantization the weighted kernels use when codegen/ops/requant.py (rq_fast) has
 * proved at generation time that it gives mlc_requantize's result bit for bit: every shift is a
 * right shift (rshift = -shift >= 1), |acc| < 2^30 for any input, and the layer's addend
 * 2^(rshift-1) + output_offset * 2^rshift (per channel, beside the multiplier) is below 2^30. Then
 *   SaturatingRoundingDoublingHighMul(acc, m) == x = (acc * m + 2^30) >> 31 (floor), because the
 *     saturating case needs acc == INT32_MIN, and TFLite's truncating division of
 *     acc * m + (acc * m >= 0 ? 2^30 : 1 - 2^30) by 2^31 equals that floor on both signs; |x| <= 2^30;
 *   RoundingDivideByPOT(x, e) + offset == (x + 2^(e-1) - (x < 0) + offset * 2^e) >> e: half away from
 *     zero, and adding a multiple of 2^e commutes with the floor shift;
 *   -(x < 0) may be taken from acc's sign: x < 0 only if acc < 0, and where acc < 0 but x == 0,
 *     (2^(e-1) - 1) >> e == 0 == 0 >> e for e >= 1.
 * With the DSP extension that is smmlar(2 acc, m, addend), add acc >> 31, asr, and one ssat when the
 * output spans all of int8. */
/* One channel's constants for mlc_requantize_rs (its right shift sits in a separate int8 table): a
 * layer's table is an array of these, one per output channel (one entry when the layer is quantized
 * per tensor); a DSP core loads both fields with one ldrd. */
typedef struct {
    int32_t multiplier;
    int32_t addend;
} mlc_requant_t;
/* Field f of record c of table t, read from flash: an int32 load at the field's offset. (GCC 12 compiles
 * the member access t[c].f otherwise: it turns the table of a per-tensor kernel into scalar arguments
 * passed on the stack and allocates the registers of the kernels' requantization differently, which
 * costs instructions on some cores.) */
#define MLC_RQ_FIELD(t, c, f) \
    MLC_RD32((const int32_t *)(const void *)((const char *)((t) + (c)) + offsetof(mlc_requant_t, f)))

#if defined(__GNUC__)
#define MLC_NN_INLINE static inline __attribute__((always_inline))
#else
#define MLC_NN_INLINE static inline
#endif

/* Thumb-1 cores (ARMv6-M: Cortex-M0/M0+, the Pico's; ARMv8-M Baseline) have no 32x32 -> 64-bit multiply, so an
 * int64 product is a libgcc call (__aeabi_lmul, about 55 instructions with the call); the requantizations take
 * the high word from mlc_mul_hi instead, in about 16. -DMLC_NO_LONG_MUL takes that path anywhere, so host
 * tests cover it. */
#if (defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB == 1) || defined(MLC_NO_LONG_MUL)
#define MLC_LONG_MUL 0
/* floor(a * b / 2^32), the high word of the signed product, from 16-bit halves as Hacker's Delight's mulhs
 * builds it (every partial sum fits int32); the low word is (uint32_t)a * (uint32_t)b. */
MLC_NN_INLINE int32_t mlc_mul_hi(int32_t a, int32_t b)
{
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const int32_t t = a1 * (int32_t)b0 + (int32_t)((a0 * b0) >> 16);
    const int32_t u = (int32_t)a0 * b1 + (t & 0xFFFF);
    return a1 * b1 + (t >> 16) + (u >> 16);
}
#else
#define MLC_LONG_MUL 1
#endif

/* mlc_requantize_rs before the clamp: MultiplyByQuantizedMultiplier(acc) + output_offset, unclamped (the LSTM's
 * gate FCs clamp it to int16) */
MLC_NN_INLINE int32_t mlc_requantize_rs_value(int32_t acc, int32_t multiplier, int32_t rshift, int32_t addend)
{
#if MLC_DSP
    const int32_t x = mlc_smmlar(acc * 2, multiplier, addend); /* (2 acc m + 2^31) >> 32, the same floor */
#elif MLC_LONG_MUL
    /* the same value with the high word taken whole: one smlal on cores without smmlar */
    const int32_t x = (int32_t)(((int64_t)(acc * 2) * multiplier + (INT64_C(1) << 31)) >> 32) + addend;
#else
    /* the same value from the high word and the carry the 2^31 adds to it, bit 31 of the low word */
    const int32_t a2 = acc * 2;
    const int32_t x = mlc_mul_hi(a2, multiplier) + (int32_t)(((uint32_t)a2 * (uint32_t)multiplier) >> 31) + addend;
#endif
    return (x + (acc >> 31)) >> rshift;
}

MLC_NN_INLINE int8_t mlc_requantize_rs(int32_t acc, int32_t multiplier, int32_t rshift, int32_t addend,
                                       int32_t act_min, int32_t act_max)
{
    const int32_t v = mlc_requantize_rs_value(acc, multiplier, rshift, addend);
#if defined(__ARM_FEATURE_SAT) && defined(__GNUC__)
    if (act_min == -128 && act_max == 127) { /* the whole int8 range (constant after inlining): one ssat (v7-M too) */
        int32_t r;
        __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
        return (int8_t)r;
    }
#endif
    return (int8_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
}

#if MLC_MVE
/* mlc_requantize_rs on four lanes (Helium), the same arithmetic and the same preconditions: vqrdmulh is
 * (2 acc m + 2^31) >> 32 (it saturates only for acc == m == INT32_MIN), vshl by a negative count is
 * the floor shift right. Returns int32 lanes in [act_min, act_max] for a narrowing store (vstrbq_s32). */
static inline int32x4_t mlc_requantize_rs_mve(int32x4_t acc, int32x4_t multiplier, int32x4_t rshift, int32x4_t addend,
                                              int32_t act_min, int32_t act_max)
{
    int32x4_t v = vaddq_s32(vqrdmulhq_s32(acc, multiplier), addend);
    v = vshlq_s32(vaddq_s32(v, vshrq_n_s32(acc, 31)), vnegq_s32(rshift));
    return vminq_s32(vmaxq_s32(v, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}
/* No instruction: v is computed here, in a vector register (keeps GCC from batching a sum's multiplies
 * ahead of its adds, which spills the eight vector registers). */
#define MLC_PIN_VEC(v) __asm__ volatile("" : "+w"(v))
/* four scalars as the lanes of a vector */
static inline int32x4_t mlc_vec4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    return vsetq_lane_s32(d, vsetq_lane_s32(c, vsetq_lane_s32(b, vdupq_n_s32(a), 1), 2), 3);
}
/* ... for four adjacent channels from the tables: rq their {multiplier, addend} records, rshift their shifts */
static inline int32x4_t mlc_requantize_rs_mve_tab(int32x4_t acc, const mlc_requant_t *rq, const int8_t *rshift,
                                                  int32_t act_min, int32_t act_max)
{
    const int32x4x2_t ma = vld2q_s32(&rq->multiplier); /* de-interleaved: multipliers, addends */
    return mlc_requantize_rs_mve(acc, ma.val[0], vldrbq_s32(rshift), ma.val[1], act_min, act_max);
}
#endif

#endif /* MLC_PORT_H */
