"""The pipeline's stages, one module each (dvc.yaml runs `python -m stages.<stage>`).

Importing the package first pins the numeric kernels' instruction set from
params.yaml (stages/kernels.py): NumPy and OpenBLAS fix theirs when they load.
"""

from stages import kernels

kernels.pin_from_params()
