"""Build small Keras models and convert them with TensorFlow's real TFLite converter.

These are the "converter-made" test models: what users actually feed mlc (Flatten with a dynamic
batch gives SHAPE/STRIDED_SLICE/PACK/RESHAPE, BatchNormalization is folded into convs, Dense on
a rank-3 input, SeparableConv2D, float I/O adds QUANTIZE/DEQUANTIZE at the edges, ...).
Weights are random (seeded), biases non-zero; nothing is trained.

Regenerate (needs TensorFlow, which the test venv does not have; about 1 min):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tflite
    /tmp/tfvenv/bin/python tests/models/make_keras_models.py        # from the repo root

Writes, for each model NAME in MODELS:
  tests/models/keras/NAME.tflite  full-integer int8 (int8 I/O unless NAME starts with float_io;
                                  16x8 with int16 I/O when it starts with int16x8)
  tests/models/keras/NAME.npz     x: float32 inputs [3, ...] from the representative
                                  distribution, y: the float Keras outputs for them
and tests/models/keras/README.md (table of models, ops and sizes); likewise
tests/models/keras_tflm_mismatch/ for TFLM_MISMATCH: converter-made dynamic-batch models that
tflite-micro runs wrongly or not at all (their .npz adds x_q/y_tflite, TFLite's reference output).
tests/models/test_keras_models.py checks them in tflite-micro (no TensorFlow needed).
Output is deterministic for a given TensorFlow version (2.21 here): seeds are fixed.
"""
import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402

OUT = Path(__file__).resolve().parent / "keras"
OUT_MISMATCH = Path(__file__).resolve().parent / "keras_tflm_mismatch"
OUT_MULTI_IO = Path(__file__).resolve().parent / "keras_multi_io"
SEED = 1234


def _seq(shape, *layers, batch=None):
    return keras.Sequential([keras.Input(shape, batch_size=batch), *layers])


def _functional(shape, body, batch=None):
    x = keras.Input(shape, batch_size=batch)
    return keras.Model(x, body(x))


def residual_add(x):
    y = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    z = L.Conv2D(6, 3, padding="same")(y)
    return L.ReLU()(L.Add()([y, z]))


def gated_multiply(x):
    h = L.Dense(12)(x)
    g = L.Dense(12, activation="sigmoid")(x)
    return L.Dense(4)(L.Multiply()([h, g]))


def sigmoid_tanh(x):
    a = L.Dense(5, activation="sigmoid")(x)
    b = L.Dense(5, activation="tanh")(x)
    return L.Concatenate()([a, b])


def concat_axes(x):
    a = L.Conv2D(3, 1)(x)
    b = L.Conv2D(5, 3, padding="same")(x)
    c = L.Concatenate(axis=-1)([a, b])
    return L.Concatenate(axis=1)([c, c])


def inception_like(x):
    p = L.MaxPooling2D(3, strides=1, padding="same")(x)
    b1 = L.Conv2D(4, 1, activation="relu")(x)
    b2 = L.Conv2D(3, 3, padding="same", activation="relu")(x)
    return L.GlobalAveragePooling2D()(L.Concatenate()([b1, b2, L.Conv2D(2, 1)(p)]))


def standalone_relus(x):
    """RELU the converter cannot fuse (after a concatenation), and LeakyReLU. (Not RELU6 there: the
    converter gives it the next concatenation's quantization, which TFLM's RELU6 ignores, so TFLM and
    mlc, bit-exact with it, are off from the float model.)"""
    c = L.Concatenate()([L.Conv2D(3, 1)(x), L.Conv2D(2, 3, padding="same")(x)])
    return L.Concatenate()([L.ReLU()(c), L.LeakyReLU(negative_slope=0.2)(c)])


def binary_ops(x):
    """Subtract, Maximum, Minimum and a squared difference of two conv branches."""
    a = L.Conv2D(4, 3, padding="same")(x)
    b = L.Conv2D(4, 1)(x)
    sq = L.Lambda(lambda t: tf.math.squared_difference(t[0], t[1]))([a, b])
    return L.Concatenate()([L.Subtract()([a, b]), L.Maximum()([a, b]), L.Minimum()([a, b]), sq])


def layout_moves(x):
    """Permute (TRANSPOSE), Cropping2D and a reversing slice (STRIDED_SLICE), a strided slice."""
    y = L.Conv2D(4, 1)(x)
    t = L.Permute((2, 1, 3))(y)
    c = L.Cropping2D(((1, 0), (2, 1)))(t)
    r = L.Lambda(lambda v: v[:, ::-1, ::2, 1:])(c)
    return L.Conv2D(3, 1)(r)


# name -> (builder of the Keras model, input shape without batch)
MODELS = {
    "conv_strided_same": lambda: _seq((12, 10, 3), L.Conv2D(5, 3, strides=2, padding="same",
                                                            activation="relu")),
    "conv_valid_rect": lambda: _seq((11, 9, 2), L.Conv2D(7, (3, 2), strides=(1, 2),
                                                         padding="valid", activation="relu6")),
    # Dilated convs need a fixed batch for TFLM: with a dynamic one the converter writes
    # SPACE_TO_BATCH_ND outputs with batch 1 (TFLite resizes them at run time, TFLM does not).
    "conv_dilated": lambda: _seq((12, 12, 3), L.Conv2D(6, 3, dilation_rate=2, padding="same"),
                                 batch=1),
    "conv_dilated_valid": lambda: _seq((13, 11, 2), L.Conv2D(5, 3, dilation_rate=(2, 1)),
                                       batch=1),
    "conv_bn_relu": lambda: _seq((10, 10, 3), L.Conv2D(6, 3, padding="same", use_bias=False),
                                 L.BatchNormalization(), L.ReLU()),
    "depthwise_mult2": lambda: _seq((10, 10, 3), L.DepthwiseConv2D(3, depth_multiplier=2,
                                                                   strides=2, padding="same",
                                                                   activation="relu6")),
    "depthwise_valid": lambda: _seq((9, 9, 5), L.DepthwiseConv2D((3, 2), padding="valid")),
    "separable_conv": lambda: _seq((10, 10, 3), L.SeparableConv2D(7, 3, padding="same",
                                                                  activation="relu")),
    "dense_mlp": lambda: _seq((20,), L.Dense(16, activation="relu"), L.Dense(8, "relu"),
                              L.Dense(3, activation="softmax")),
    "dense_rank3_fixed_batch": lambda: _seq((6, 10), L.Dense(7, activation="relu"), batch=1),
    "pool_max_avg": lambda: _seq((12, 12, 3), L.MaxPooling2D(2),
                                 L.AveragePooling2D(3, strides=2, padding="same")),
    "residual_add": lambda: _functional((8, 8, 3), residual_add),
    "gated_multiply": lambda: _functional((10,), gated_multiply),
    "sigmoid_tanh": lambda: _functional((9,), sigmoid_tanh),
    "flatten_dynamic_batch": lambda: _seq((6, 6, 2), L.Conv2D(3, 3), L.Flatten(), L.Dense(4)),
    "flatten_fixed_batch": lambda: _seq((6, 6, 2), L.Conv2D(3, 3), L.Flatten(), L.Dense(4),
                                        batch=1),
    "reshape": lambda: _seq((24,), L.Reshape((4, 3, 2)), L.Conv2D(3, 2), L.Reshape((-1,))),
    "concat_axes": lambda: _functional((6, 6, 2), concat_axes),
    "global_avg_pool": lambda: _seq((8, 8, 3), L.Conv2D(5, 3, activation="relu"),
                                    L.GlobalAveragePooling2D(), L.Dense(3, "softmax")),
    "mean_keepdims": lambda: _seq((7, 5, 4), L.GlobalAveragePooling2D(keepdims=True)),
    "zero_padding": lambda: _seq((6, 5, 3), L.ZeroPadding2D(((1, 2), (0, 3))),
                                 L.Conv2D(4, 3, activation="relu")),
    "relu6_tanh": lambda: _seq((16,), L.Dense(10), L.ReLU(max_value=6.0), L.Dense(4, "tanh")),
    "conv1d": lambda: _seq((32, 3), L.Conv1D(6, 5, strides=2, activation="relu"),
                           L.MaxPooling1D(2), L.Flatten(), L.Dense(3, activation="softmax")),
    "inception_like": lambda: _functional((8, 8, 3), inception_like),
    "tiny_cnn": lambda: _seq((16, 16, 1), L.Conv2D(5, 3, strides=2, activation="relu"),
                             L.DepthwiseConv2D(3, padding="same", activation="relu"),
                             L.Conv2D(7, 1, activation="relu"), L.AveragePooling2D(2),
                             L.Flatten(), L.Dense(4), L.Softmax()),
    "standalone_relus": lambda: _functional((6, 6, 3), standalone_relus),
    "prelu_hard_swish": lambda: _seq((8, 8, 3), L.Conv2D(5, 3, padding="same"), L.PReLU(shared_axes=[1, 2]),
                                     L.Conv2D(4, 1), L.Activation("hard_swish")),
    "binary_ops": lambda: _functional((6, 5, 3), binary_ops),
    "layout_moves": lambda: _functional((7, 9, 2), layout_moves),
    # (UpSampling2D converts to EXPAND_DIMS/TILE/RESHAPE in Keras 3; Resizing to RESIZE_NEAREST_NEIGHBOR)
    "resize_nearest": lambda: _seq((5, 4, 3), L.Conv2D(4, 3, padding="same"),
                                   L.Resizing(11, 9, interpolation="nearest"),
                                   L.Resizing(7, 5, interpolation="nearest"), L.Conv2D(3, 1)),
    # Resizing bilinear has half-pixel centres; tf.compat.v1's resize with align_corners gives the other flag
    "resize_bilinear": lambda: _seq((5, 4, 3), L.Conv2D(5, 3, padding="same"),
                                    L.Resizing(11, 9, interpolation="bilinear"),
                                    L.Lambda(lambda t: tf.compat.v1.image.resize_bilinear(t, (6, 5), align_corners=True)),
                                    L.Conv2D(3, 1), batch=1),
    "reduce_max_sum": lambda: _functional((6, 5, 3), lambda x: L.Concatenate()([
        L.GlobalMaxPooling2D()(L.Conv2D(4, 3)(x)),
        L.Lambda(lambda t: tf.reduce_sum(t, axis=[1, 2]))(L.Conv2D(4, 1)(x))])),
    "conv_transpose": lambda: _seq((5, 4, 3), L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
                                   L.Conv2DTranspose(4, (2, 3), strides=(1, 2), padding="valid"), batch=1),
    # one decoder-sized layer alone: the per-layer benchmark against TFLM + CMSIS-NN (README, TRANSPOSE_CONV)
    "conv_transpose_upsample": lambda: _seq((8, 8, 16), L.Conv2DTranspose(16, 3, strides=2, padding="same"), batch=1),
    "split_unstack": lambda: _functional((6, 4, 6), lambda x: L.Concatenate()([
        *L.Lambda(lambda t: tf.split(t, 3, axis=-1))(L.Conv2D(6, 1)(x))[::-1],
        *L.Lambda(lambda t: tf.split(t, [1, 3, 2], axis=-1))(x),
        L.Lambda(lambda t: tf.stack(tf.unstack(t, axis=1)[::-1], axis=1))(x)])),
    # (the converter leaves ELU in float32 between DEQUANTIZE and QUANTIZE: its int8 kernel has hand-made models only)
    "abs_rsqrt": lambda: _functional((6, 5, 3), lambda x: L.Concatenate()([
        L.Conv2D(4, 3, padding="same", activation="relu")(x),
        L.Lambda(lambda t: tf.abs(t))(L.Conv2D(3, 1)(x)),
        L.Lambda(lambda t: tf.math.rsqrt(tf.nn.relu(t) + 0.5))(L.Conv2D(2, 1)(x))])),
    "depth_space_gather": lambda: _functional((6, 4, 3), lambda x: L.Concatenate()([
        L.Lambda(lambda t: tf.nn.space_to_depth(tf.nn.depth_to_space(t, 2), 2))(L.Conv2D(8, 1)(x)),
        L.Lambda(lambda t: tf.gather(t, [4, 0, 2, 1], axis=2))(L.Conv2D(4, 1)(
            L.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 1], [0, 2], [0, 0]], mode="REFLECT"))(x)))[:, 1:-1],
        L.Lambda(lambda t: tf.reduce_min(t, axis=3, keepdims=True))(L.Conv2D(4, 1)(x))]), batch=1),
    "arg_max": lambda: _functional((6, 5, 3), lambda x: L.Lambda(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(
        L.Conv2D(7, 3, padding="same")(x))),
    "float_io_mlp": lambda: _seq((12,), L.Dense(10, "relu"), L.Dense(3, "softmax")),
    "float_io_conv": lambda: _seq((8, 8, 2), L.Conv2D(4, 3, activation="relu"),
                                  L.GlobalAveragePooling2D()),
}


def mobilenet_v2_like(x):
    """MobileNet v2's stem and inverted residual blocks (1x1 expand, depthwise, 1x1 project, ADD) on a 48x48
    image, channels not multiples of 4: the large early feature maps that patches (banded first layers) keep
    from ever existing whole."""
    y = L.Conv2D(12, 3, strides=2, padding="same", activation="relu6")(x)
    y = L.Conv2D(6, 1)(L.DepthwiseConv2D(3, padding="same", activation="relu6")(y))
    y = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(L.Conv2D(30, 1, activation="relu6")(y))
    y = L.Conv2D(10, 1)(y)
    z = L.DepthwiseConv2D(3, padding="same", activation="relu6")(L.Conv2D(30, 1, activation="relu6")(y))
    y = L.Add()([y, L.Conv2D(10, 1)(z)])
    return L.Dense(5)(L.GlobalAveragePooling2D()(L.Conv2D(16, 1, activation="relu6")(y)))


MODELS["mobilenet_v2_like"] = lambda: _functional((48, 48, 3), mobilenet_v2_like)


def mobilenet_v1_like(x):
    """MLPerf Tiny's visual wake words net (MobileNet v1, alpha 0.25, 96x96x3) down to its first 128-channel
    block at 6x6: the same large early maps and strides, without the five 128- and two 256-channel blocks
    that hold most of the weights (person_detect, TFLM's full-depth 96x96x1 one, has them)."""
    y = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)))
    for filters, stride in ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 2)):
        y = L.ReLU(6.0)(L.BatchNormalization()(L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)))
        y = L.ReLU(6.0)(L.BatchNormalization()(L.Conv2D(filters, 1, use_bias=False)(y)))
    return L.Softmax()(L.Dense(2)(L.GlobalAveragePooling2D()(y)))


def resnet8_like(x):
    """MLPerf Tiny's image classification ResNet-8 on 32x32x3: a 16-filter stem, three residual stages of
    16/32/64 filters (stride 2 and a 1x1 shortcut conv from the second on), global pooling, dense 10."""
    def bn_conv(t, filters, stride=1, relu=True):
        t = L.BatchNormalization()(L.Conv2D(filters, 3, strides=stride, padding="same")(t))
        return L.ReLU()(t) if relu else t
    y = bn_conv(x, 16)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        z = bn_conv(bn_conv(y, filters, stride), filters, relu=False)
        shortcut = y if stride == 1 else L.Conv2D(filters, 1, strides=stride)(y)
        y = L.ReLU()(L.Add()([z, shortcut]))
    return L.Softmax()(L.Dense(10)(L.GlobalAveragePooling2D()(y)))


def streaming_conv1d_like(x):
    """A 1-D conv net like MLPerf Tiny's streaming wakeword model: 40 filter-bank features per step over 49
    steps, a strided Conv1D, depthwise-separable Conv1D blocks with growing dilation over time, global pooling
    and a dense 3-class head. Batch 1, so the dilated convs stay single CONV_2D/DEPTHWISE_CONV_2D ops."""
    y = L.Conv1D(32, 5, strides=2, activation="relu")(x)
    for filters, dilation in ((32, 1), (48, 2), (48, 4), (64, 2)):
        y = L.DepthwiseConv1D(3, dilation_rate=dilation, activation="relu")(y)
        y = L.BatchNormalization()(L.Conv1D(filters, 1)(y))
        y = L.ReLU()(y)
    return L.Softmax()(L.Dense(3)(L.GlobalAveragePooling1D()(y)))


MODELS["mobilenet_v1_like"] = lambda: _functional((96, 96, 3), mobilenet_v1_like)
MODELS["resnet8_like"] = lambda: _functional((32, 32, 3), resnet8_like)
MODELS["streaming_conv1d_like"] = lambda: _functional((49, 40), streaming_conv1d_like, batch=1)


def conv_dw_dense(x):
    y = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    z = L.DepthwiseConv2D(3, padding="same")(y)
    return L.Dense(5)(L.Flatten()(L.Conv2D(4, 3, strides=2)(L.Add()([y, z]))))


def attention(x):
    """Single-head self-attention: BATCH_MATMUL between two activations (keys transposed: adj_y), softmax, and
    again with the values."""
    q, k, v = L.Dense(8)(x), L.Dense(8)(x), L.Dense(5)(x)
    scores = L.Lambda(lambda t: tf.matmul(t[0], t[1], transpose_b=True))([q, k])
    return L.Lambda(lambda t: tf.matmul(t[0], t[1]))([L.Softmax()(scores), v])


def gram(x):
    """x^T x of two projections (adj_x) and a product with a constant matrix."""
    a, b = L.Dense(7)(x), L.Dense(5, activation="relu")(x)
    g = L.Lambda(lambda t: tf.matmul(t[0], t[1], transpose_a=True))([a, b])
    return L.Lambda(lambda t: tf.matmul(t, tf.constant(np.linspace(-1, 1, 15, dtype="float32").reshape(5, 3))))(g)


MODELS.update({
    "attention_matmul": lambda: _functional((6, 8), attention, batch=1),
    "gram_matmul": lambda: _functional((9, 6), gram, batch=1),
    "broadcast_to": lambda: _functional((4, 1, 3), lambda x: L.Conv2D(5, 3, padding="same")(
        L.Lambda(lambda t: tf.broadcast_to(t, [1, 4, 6, 3]))(L.Conv2D(3, 1)(x))), batch=1),
    # LOG_SOFTMAX over rows of 11 (not a multiple of 4), int8 out at TFLite's fixed scale 16/256, zero point 127
    "log_softmax": lambda: _functional((3, 6), lambda x: L.Lambda(lambda t: tf.nn.log_softmax(t, axis=-1))(
        L.Dense(11)(x)), batch=1),
    # L2_NORMALIZATION over channels (7, not a multiple of 4); int8 out at 1/128, zero point 0
    "l2_normalize": lambda: _functional((5, 4, 3), lambda x: L.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))(
        L.Conv2D(7, 3, padding="same")(x)), batch=1),
    # CAST: the int32 index of ARG_MAX cast to int8 and int16, concatenated as floats the quantizer then quantizes
    "cast": lambda: _functional((6, 5, 3), lambda x: L.Lambda(lambda t: tf.cast(tf.argmax(t, axis=-1, output_type=tf.int32),
                                                                                 tf.int8))(L.Conv2D(7, 3, padding="same")(x)), batch=1),
    "gather_nd": lambda: _functional((5, 4, 3), lambda x: L.Dense(4)(
        L.Lambda(lambda t: tf.gather_nd(t, [[[0, 4, 1], [0, 0, 3], [0, 2, 2], [0, 4, 1]]]))(L.Conv2D(6, 1)(x))), batch=1),
    # SPACE_TO_BATCH_ND -> PAD -> BATCH_TO_SPACE_ND with no conv between (no dilated conv to fold): a batch of 4 inside
    "space_batch": lambda: _functional((8, 6, 3), lambda x: L.Conv2D(4, 1)(L.Lambda(lambda t: tf.batch_to_space(
        tf.pad(tf.space_to_batch_nd(t, [2, 2], [[0, 0], [0, 0]]), [[0, 0], [1, 0], [0, 1], [0, 0]]), [2, 2],
        [[1, 1], [0, 2]]))(L.Conv2D(5, 1)(x))), batch=1),
})


# 16x8 models (int16 activations and I/O, int8 weights, int64 bias: the converter's
# EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 mode), named int16x8_*
MODELS.update({
    "int16x8_conv_dw_dense": lambda: _functional((9, 8, 3), conv_dw_dense, batch=1),
    "int16x8_gram_matmul": lambda: _functional((9, 6), gram, batch=1),
    "int16x8_mlp": lambda: _seq((20,), L.Dense(16, activation="relu"), L.Dense(6, activation="relu6"), L.Dense(3),
                                batch=1),
    # int16 LOGISTIC, TANH (TFLite's sigmoid table) and SOFTMAX (exp and 1/(1+x) LUTs)
    "int16x8_sigmoid_tanh_softmax": lambda: _functional((12,), lambda x: L.Dense(5, activation="softmax")(
        sigmoid_tanh(x)), batch=1),
    # 16x8 TRANSPOSE_CONV (int64 bias; the converter refuses 16x8 PRELU)
    "int16x8_conv_transpose": lambda: _seq((5, 4, 3), L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
                                           L.Conv2DTranspose(4, (2, 3), strides=(1, 2), padding="valid"), batch=1),
})

# Models with ops the int8 quantizer leaves in float32 (islands_*: converted with TFLITE_BUILTINS allowed besides
# TFLITE_BUILTINS_INT8, so the converter keeps them between DEQUANTIZE and QUANTIZE): LayerNormalization's NEG.
MODELS.update({
    "islands_layer_norm": lambda: _seq((8, 12), L.Dense(12), L.LayerNormalization(), L.Dense(6), batch=1),
})

# Ops the quantizer is told to leave in float32 (TFLite's selective quantization, the quantization debugger's
# denylisted_ops), each between DEQUANTIZE and QUANTIZE; the debugger's model has float I/O (hence float_io_).
DENYLISTED = {"float_io_islands_gather_reduce": ["GATHER", "GATHER_ND", "MIRROR_PAD", "REDUCE_MAX", "REDUCE_MIN"]}
MODELS.update({
    "float_io_islands_gather_reduce": lambda: _functional((6, 5), lambda x: L.Dense(4)(L.Lambda(lambda t: tf.concat([
        tf.gather(t, [3, 0, 2, 5], axis=1), tf.pad(t, [[0, 0], [1, 1], [0, 0]], mode="REFLECT")[:, :4],
        tf.pad(t, [[0, 0], [2, 1], [0, 0]], mode="SYMMETRIC")[:, 1:5], tf.gather_nd(t, [[[0, 4], [0, 1], [0, 0], [0, 2]]]),
        tf.reduce_max(t, axis=2, keepdims=True)[:, :4] + tf.reduce_min(t, axis=1, keepdims=True)[:, :, :1]], axis=2))(
        L.Dense(5)(x))), batch=1),
})

# Converter-made models that TFLM runs wrongly or not at all (written to keras_tflm_mismatch/).
TFLM_MISMATCH = {
    "dynbatch_conv_dilated": lambda: _seq((12, 12, 3), L.Conv2D(6, 3, dilation_rate=2,
                                                                padding="same")),
    "dynbatch_conv1d_causal_dilated": lambda: _seq((32, 3), L.Conv1D(4, 3, dilation_rate=2,
                                                                     padding="causal")),
    "dynbatch_dense_rank3": lambda: _seq((6, 10), L.Dense(7, activation="relu")),
}


def sensor_fusion(pooled=True):
    """Two inputs, two heads: an audio-feature branch (a 2-D conv over 12 frames x 10 bins) and an IMU
    branch (a 1-D conv over 20 steps x 6 axes), concatenated, then a class head and a regression head.
    pooled=False: the branches flattened and no softmax (ops mlc has in int16)."""
    audio = keras.Input((12, 10, 1), batch_size=1, name="audio")
    imu = keras.Input((20, 6), batch_size=1, name="imu")
    a = L.Conv2D(5, 3, strides=2, activation="relu")(audio)
    b = L.Conv1D(7, 5, strides=2, activation="relu")(imu)
    a, b = (L.GlobalAveragePooling2D()(a), L.Flatten()(L.MaxPooling1D(4)(b))) if pooled else (L.Flatten()(a), L.Flatten()(b))
    h = L.Dense(9, activation="relu")(L.Concatenate()([a, b]))
    return keras.Model([audio, imu], [L.Dense(4, activation="softmax" if pooled else None, name="activity")(h),
                                      L.Dense(2, name="heading")(h)])


MULTI_IO = {  # several inputs and outputs (the .npz holds x0, x1, ... and y0, y1, ... in Keras' order)
    "sensor_fusion": sensor_fusion,
    "float_io_sensor_fusion": sensor_fusion,
    "int16x8_sensor_fusion": lambda: sensor_fusion(pooled=False),
}


def randomize(model, rng):
    """Random non-zero biases and BatchNorm statistics (Keras initialises them to 0/1)."""
    for layer in model.layers:
        for v in layer.weights:
            name = v.path.split("/")[-1]
            if name in ("bias", "beta", "moving_mean"):
                v.assign(rng.normal(0, 0.2, v.shape).astype("float32"))
            elif name in ("gamma", "moving_variance"):
                v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))


def convert(model, reps, float_io, int16x8=False, islands=False, denylisted=()):
    """reps: one representative array per model input, in Keras' order (fed by name: the converted model
    may order its inputs differently). islands: float32 builtins allowed where int8 ones are missing;
    denylisted: op types left in float32 by the quantization debugger."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    names = [t.name for t in model.inputs]
    conv.representative_dataset = lambda: ({n: r[j][None] for n, r in zip(names, reps)} for j in range(len(reps[0])))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                                      if int16x8 else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if islands or denylisted:
        conv.target_spec.supported_ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    if denylisted:
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(denylisted))
        dataset = lambda: ([r[j][None] for r in reps] for j in range(len(reps[0])))  # noqa: E731
        return tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=dataset,
                                                         debug_options=options).get_nondebug_quantized_model()
    if not float_io:
        conv.inference_input_type = tf.int16 if int16x8 else tf.int8
        conv.inference_output_type = tf.int16 if int16x8 else tf.int8
    return conv.convert()


def op_names(data):
    import tflite
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    m = tflite.Model.GetRootAsModel(data, 0)
    g = m.Subgraphs(0)
    ops = [names[m.OperatorCodes(g.Operators(i).OpcodeIndex()).BuiltinCode()]
           for i in range(g.OperatorsLength())]
    return list(dict.fromkeys(ops))


def tflite_reference(data, x):
    """int8 input and output of TensorFlow Lite's reference kernels for a float input."""
    it = tf.lite.Interpreter(model_content=data, experimental_op_resolver_type=(
        tf.lite.experimental.OpResolverType.BUILTIN_REF))
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    s, z = di["quantization"]
    xq = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)
    it.set_tensor(di["index"], xq)
    it.invoke()
    return xq, it.get_tensor(do["index"])


def build(name, make):
    seed = SEED + zlib.crc32(name.encode()) % 10000  # per model, stable under edits
    keras.utils.set_random_seed(seed)
    model = make()
    rng = np.random.default_rng(seed)
    randomize(model, rng)
    reps = [rng.normal(0, 1, (100, *t.shape[1:])).astype("float32") for t in model.inputs]
    data = convert(model, reps, name.startswith("float_io"), name.startswith("int16x8"), name.startswith("islands_"),
                   DENYLISTED.get(name, ()))
    if len(reps) == 1 and len(model.outputs) == 1:
        x = reps[0][:3]
        return data, {"x": x}, {"y": np.concatenate([model(x[j:j + 1], training=False).numpy() for j in range(3)])}
    xs = [r[:3] for r in reps]
    ys = [model([x[j:j + 1] for x in xs], training=False) for j in range(3)]
    return data, {f"x{i}": x for i, x in enumerate(xs)}, {
        f"y{k}": np.concatenate([np.asarray(y[k]) for y in ys]) for k in range(len(model.outputs))}


def main(names=None):
    for models, out, intro in ((MODELS, OUT, README), (TFLM_MISMATCH, OUT_MISMATCH, README_MISMATCH),
                               (MULTI_IO, OUT_MULTI_IO, README_MULTI_IO)):
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for name, make in models.items():
            if names and name not in names:
                continue
            data, xs, ys = build(name, make)
            (out / f"{name}.tflite").write_bytes(data)
            extra = {}
            if models is TFLM_MISMATCH:
                pairs = [tflite_reference(data, xs["x"][j:j + 1]) for j in range(3)]
                extra = dict(x_q=np.concatenate([p[0] for p in pairs]),
                             y_tflite=np.concatenate([p[1] for p in pairs]))
            np.savez(out / f"{name}.npz", **xs, **ys, **extra)
            rows.append(f"| {name} | {len(data)} | {', '.join(op_names(data))} |")
            print(f"{name:24s} {len(data):6d} B  {op_names(data)}", flush=True)
        if not names or set(models) <= set(names):
            (out / "README.md").write_text(intro.format(tf=tf.__version__) +
                                           "\n| model | bytes | ops |\n|---|---|---|\n" +
                                           "\n".join(rows) + "\n")


README = """# Converter-made test models

Made by `tests/models/make_keras_models.py` (TensorFlow {tf}, full-integer int8 quantization,
random seeded weights). `NAME.npz` holds float inputs `x` [3, ...] and the Keras float outputs
`y`. Every model runs in tflite-micro (tests/models/test_keras_models.py checks it and that the
dequantized outputs are close to `y`).
"""

README_MISMATCH = """# Converter-made models that tflite-micro gets wrong or cannot run

Made by `tests/models/make_keras_models.py` (TensorFlow {tf}). Dynamic-batch models: the
converter writes SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND intermediate tensors with batch 1 in their
static shape (TFLite resizes them at run time; TFLM does not, computes a quarter of the data and
reads past the tensor, so its output is garbage), and Dense on a rank-3 input needs
REDUCE_PROD/GATHER, which TFLM lacks. Do not use TFLM as the reference here: `NAME.npz` has float
`x`/`y` (Keras) plus `x_q` (int8 input) and `y_tflite` (int8 output of TensorFlow Lite's
reference kernels, BUILTIN_REF). An importer should recompute shapes rather than trust them, or
reject such models clearly. With a fixed batch (`keras.Input(..., batch_size=1)`) the converter
writes a dilated CONV_2D instead (see ../keras/conv_dilated*.tflite).
"""

README_MULTI_IO = """# Converter-made models with several inputs and outputs

Made by `tests/models/make_keras_models.py` (TensorFlow {tf}, full-integer int8 quantization, float
I/O for the `float_io_` one, random seeded weights). `NAME.npz` holds the float inputs `x0`, `x1`, ...
[3, ...] and the Keras float outputs `y0`, `y1`, ... in the Keras model's order (the .tflite may order
its outputs differently). tests/test_multi_io.py runs them.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
