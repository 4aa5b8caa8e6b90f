"""mlc: compile int8 neural networks into bit-exact C for microcontrollers."""
