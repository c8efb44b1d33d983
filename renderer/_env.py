"""Process environment the renderer wants set before torch loads its OpenMP runtime.

The animator's torch threads and x264's threads share the CPU: OpenMP threads that spin
after each parallel region starve the encoder (measured on 2 vCPUs: ~15 % more CPU time
per clip when spinning). Only effective if torch is imported after ``renderer``; an explicit
``OMP_WAIT_POLICY`` in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
