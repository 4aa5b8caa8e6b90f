"""Every number that decides how a kernel is built, in one place. The op definitions' plan hooks
(codegen/ops) read them; the templates only render what a plan says."""

# Requantization
FAST_LIMIT = 1 << 30  # mlc_requantize_rs (mlc_port.h) is exact while |acc| and |addend| stay below this

# CONV_2D
IM2COL_MAX_BYTES = 2048  # windows larger than this use the scratch-free generic kernel rather than grow the arena
Q15_MAX_ROW = 576  # the DSP path widens a block's inputs to halfwords (in scratch) for rows up to this length:
#                    past it the widening no longer pays for the arena it takes (3 pixels * 2 B per input)
Q15_UNROLL_MAX = 64  # the DSP path's halfword dot products are fully unrolled up to this row length; three
#                      pixels' accumulators then fit the core's registers, so blocks are three pixels
Q15_STEP = 4  # the halfword dot product consumes 4 int8 inputs (two words of halfword pairs) per step
VECTOR_BYTES = 16  # one Helium int8 vector: rows that are whole vectors run a pixel at a time (no tail to share)
CHANNEL_QUAD = 4  # channels per pass in the four-channel loops (one int32x4 vector on Helium)
CONV_HALFWORD_MAX_BYTES = 128 * 1024  # DSP cores, halfword path: a layer's int8 weights up to this size are stored as
#                                     int16 pairs (twice the flash): one ldrd a channel and step, no sxtb16 unpacking
TCONV_Q15_MAX_BYTES = 16 * 1024  # DSP cores: TRANSPOSE_CONV's input widened to halfwords in scratch up to this size
#                                 (the arena grows by it; TFLM's kernel takes an int32 scratch of the output's size)

# DEPTHWISE_CONV_2D
DW_UNROLL_MAX_TAPS = 16  # windows of at most this many taps are unrolled (a 4x4 window; larger ones loop over rows)
DW_RING_SHARE = 8  # in place (or a patch step's rows) the tensor fills the arena: its ring of padded rows may add at most 1/8 of it, else
#                   the channels go in blocks through a narrower ring (each block costs a pass over the rows)
LDRD_MAX_OFFSET = 1024  # ldrd's immediate offset reaches under 1 kB; farther weights take two word loads

# FULLY_CONNECTED
FC_UNROLL_MAX_DEPTH = 32  # rows up to this depth: two units per pass, fully unrolled (no loop to run);
#                           longer rows: four units per pass (each input word unpacked once for four)
FC_HALFWORD_MAX_BYTES = 128 * 1024  # DSP cores: a layer's int8 weights up to this size are stored as int16 (twice the
#                                 flash, at most 128 kB more a layer) so that each ldrd feeds two smlad unpacked
FC_HALFWORD_ROWS = 6  # units per pass of the halfword-weights path: 6 accumulators, the input pairs, a weight pair and 3 pointers
#                   fill the core's registers (4 units: 1.02 instructions per MAC on ad01's first layer, 6: 0.95)
FC_HALFWORD_LOOP_STEPS = 4  # rows longer than MAX_UNROLLED_LINES allows loop over 4 steps of 4 inputs a pass (the
#                         pointer steps and branch then cost 4 instructions per 96 MACs)

# AVERAGE_POOL_2D
MAX_HALFWORD_WINDOW = 256  # |sum| <= 128 * 256 fits a halfword: the fast average sums in sxtab16 halves

# Code size
MAX_FUNCTION_LINES = 300  # the longest generated function a reader should face (tests/test_generate_c_shape.py)
MAX_UNROLLED_LINES = 160  # an unrolled dot product or window takes at most this many lines of C: with the rest of
#                           its kernel (up to about 130 lines) the function stays under MAX_FUNCTION_LINES

# Flash
OWN_LAYOUT_FLASH_SHARE = 0.75  # a library built for one board gives an ISA its own weight layouts (FULLY_CONNECTED's
#                                halfwords: twice the flash) only while the weights take at most this share of its flash
