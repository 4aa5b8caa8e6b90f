"""The model as mlc reads it: the graph IR, the .tflite reader and its folds, TFLite's quantization
arithmetic (float scales to integer multipliers, gemmlowp fixed point in numpy), tensor files, and
TFLM's interpreter as the reference oracle."""
