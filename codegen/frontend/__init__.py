"""The audio front end: TFLM's Signal-op preprocessing graph recognised (recognise.py) into one frozen
parameter record (params.py), the fixed-point tables its arithmetic needs (tables.py), and the fused C
rendered from templates/frontend (emit.py). hostsim.frontend is its numpy twin."""
from codegen.frontend.params import Frontend
from codegen.frontend.recognise import load, recognise

__all__ = ["Frontend", "load", "recognise"]
