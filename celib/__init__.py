"""celib: cross-entropy and its relatives in plain NumPy, as taught in
*Cross-Entropy, Explained and Tested*.

Each loss has its gradient beside it, takes its options as keywords, and follows
``torch.nn.functional``'s semantics unless its docstring says otherwise.
"""

from pathlib import Path

from .activations import log_sigmoid, log_softmax, logsumexp, one_hot, sigmoid, softmax
from .binary import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
)
from .focal import quality_focal_loss, quality_focal_loss_grad, sigmoid_focal_loss, sigmoid_focal_loss_grad
from .dfl import dfl_decode, distribution_focal_loss, distribution_focal_loss_grad, two_hot
from .multiclass import (
    categorical_cross_entropy,
    categorical_cross_entropy_grad,
    cross_entropy,
    cross_entropy_grad,
    nll_loss,
    nll_loss_grad,
)
from .regression import mse_loss, mse_loss_grad

__version__ = "0.1.0"

#: Path of the course's matplotlib style (colour-blind-safe palette, line styles that
#: survive greyscale): ``plt.style.use(celib.MPLSTYLE)``.
MPLSTYLE = str(Path(__file__).with_name("course.mplstyle"))

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "sigmoid",
    "log_sigmoid",
    "one_hot",
    "cross_entropy",
    "cross_entropy_grad",
    "nll_loss",
    "nll_loss_grad",
    "categorical_cross_entropy",
    "categorical_cross_entropy_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "mse_loss",
    "mse_loss_grad",
    "distribution_focal_loss",
    "distribution_focal_loss_grad",
    "two_hot",
    "dfl_decode",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_grad",
    "quality_focal_loss",
    "quality_focal_loss_grad",
]
