"""Losses of the paper: focal loss and the multi-task diagnosis + IAA loss.

Both are :class:`torch.nn.Module` objects usable as a skorch ``criterion``.

See Also
--------
skiaa.nets : the networks these losses train.
skiaa.MultiTaskDiagnosisClassifier : the estimator that uses :class:`MultiTaskLoss`.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FocalLoss", "MultiTaskLoss"]


_FOCAL_VARIANTS = ("standard", "paper")


def _at_least_float32(x):
    # Half-precision outputs (autocast) are widened; float64 ones are not narrowed.
    return x.to(torch.promote_types(x.dtype, torch.float32))


class FocalLoss(nn.Module):
    """Focal loss for multi-class classification (Lin et al., 2017).

    ``loss_i = -w[y_i] * (1 - p_i) ** gamma * log(p_i)`` where ``p_i`` is the
    softmax probability of the true class ``y_i`` (``variant="standard"``), or
    the form of the paper's released training code (``variant="paper"``).

    Parameters
    ----------
    gamma : float, default=2.0
        Focusing parameter; 0 gives the (weighted) cross-entropy. The paper uses 2.
    weight : array-like of shape (n_classes,), default=None
        Per-class weights (the paper: inverse class frequency). None weighs all
        classes equally.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` is the weighted mean ``sum(loss_i) / sum(w[y_i])``, the same
        normalisation as :class:`torch.nn.CrossEntropyLoss`, so that
        ``gamma=0`` equals it exactly. With ``variant="paper"`` it is the
        plain mean over the batch, as in the paper's code.
    variant : {"standard", "paper"}, default="standard"
        ``"paper"`` is the loss of the authors' released code (sfu-mial/skin-IAV):
        the class weight goes *inside* the log-probability,
        ``loss_i = -(1 - p_i ** w_i) ** gamma * w_i * log(p_i)`` with
        ``w_i = w[y_i]``, and ``"mean"`` is the plain batch mean
        ``sum(loss_i) / n``. Without weights both variants agree up to the
        normalisation of the mean.

    Raises
    ------
    ValueError
        If ``gamma`` is negative, ``reduction`` or ``variant`` is unknown.

    See Also
    --------
    MultiTaskLoss : Focal loss on the diagnosis plus SmoothL1 on the IAA.

    Notes
    -----
    The loss is computed in float32 at least, so that it stays accurate under
    bf16 autocast; float64 logits (a network cast to double precision) keep
    their precision.

    The paper's variant comes from computing the focal factor from a weighted
    cross-entropy: ``log p^w = -CE_w`` so that ``p ** w`` takes the place of
    ``p``. For a class with weight ``w > 1`` the focusing factor
    ``(1 - p ** w) ** gamma`` is then larger than ``(1 - p) ** gamma``; the
    two forms train differently, and the paper's numbers were obtained with
    this one.

    Examples
    --------
    >>> import torch
    >>> from skiaa.losses import FocalLoss
    >>> logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    >>> target = torch.tensor([0, 1])
    >>> ce = torch.nn.functional.cross_entropy(logits, target)
    >>> bool(torch.isclose(FocalLoss(gamma=0.0)(logits, target), ce))
    True
    >>> bool(FocalLoss(gamma=2.0)(logits, target) < ce)
    True
    """

    def __init__(self, gamma=2.0, weight=None, reduction="mean", variant="standard"):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}.")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
        if variant not in _FOCAL_VARIANTS:
            raise ValueError(f"variant must be 'standard' or 'paper', got {variant!r}.")
        self.gamma = float(gamma)
        self.reduction = reduction
        self.variant = variant
        weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        # A buffer, so that ``.to(device)`` moves it with the module.
        self.register_buffer("weight", weight)

    def forward(self, logits, target):
        """Focal loss of a batch.

        Parameters
        ----------
        logits : torch.Tensor of shape (n, n_classes)
            Unnormalised class scores.
        target : torch.Tensor of shape (n,)
            Integer class indices.

        Returns
        -------
        loss : torch.Tensor
            A scalar, or shape (n,) with ``reduction="none"``.
        """
        logits = _at_least_float32(logits)
        target = target.long()
        log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
        w = torch.ones_like(log_p) if self.weight is None else self.weight[target]
        if self.variant == "paper":
            weighted = w * log_p  # log(p ** w)
            loss = -((1.0 - weighted.exp()) ** self.gamma) * weighted
        else:
            loss = -((1.0 - log_p.exp()) ** self.gamma) * log_p * w
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        if self.variant == "paper":
            return loss.mean()
        return loss.sum() / w.sum()


class MultiTaskLoss(nn.Module):
    """The paper's loss ``alpha * focal(diagnosis) + (1 - alpha) * SmoothL1(IAA)``.

    Parameters
    ----------
    alpha : float, default=0.5
        Weight of the diagnosis loss, in [0, 1]. ``alpha=1`` trains the
        diagnosis alone (the paper's baseline) and ignores the IAA target.
    gamma : float, default=2.0
        Focusing parameter of the focal loss.
    weight : array-like of shape (n_classes,), default=None
        Class weights of the focal loss.
    beta : float, default=1.0
        Threshold of :class:`torch.nn.SmoothL1Loss` (PyTorch's default, as the paper).
    focal : {"standard", "paper"}, default="standard"
        Form of the focal loss (:class:`FocalLoss` ``variant``); ``"paper"`` is
        the one of the authors' released code.

    Raises
    ------
    ValueError
        If ``alpha`` is outside [0, 1] or ``focal`` is unknown.

    See Also
    --------
    FocalLoss
    skiaa.nets.MultiTaskNet : Returns the ``(logits, iaa)`` pair this loss takes.

    Notes
    -----
    The target is one float tensor of shape (n, 2): column 0 holds the class
    index, column 1 the IAA. One tensor, rather than a pair, so that skorch
    slices, batches and moves it like any target. Rows whose IAA is NaN do not
    contribute to the IAA term (the term is the mean over the other rows, 0 when
    there is none); the estimators reject NaN targets before they get here.

    Examples
    --------
    >>> import torch
    >>> from skiaa.losses import MultiTaskLoss
    >>> logits = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    >>> iaa_pred = torch.tensor([0.8, 0.6])
    >>> target = torch.tensor([[0.0, 0.9], [1.0, 0.5]])
    >>> loss = MultiTaskLoss(alpha=0.5)((logits, iaa_pred), target)
    >>> loss.shape
    torch.Size([])
    >>> bool(MultiTaskLoss(alpha=1.0)((logits, iaa_pred), target) > 0)
    True
    """

    def __init__(self, alpha=0.5, gamma=2.0, weight=None, beta=1.0, focal="standard"):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.focal = FocalLoss(gamma=gamma, weight=weight, variant=focal)

    def forward(self, y_pred, y_true):
        """Combined loss of a batch.

        Parameters
        ----------
        y_pred : tuple of torch.Tensor
            ``(logits (n, n_classes), iaa (n,))`` as returned by
            :class:`skiaa.nets.MultiTaskNet`.
        y_true : torch.Tensor of shape (n, 2)
            Column 0 the class index, column 1 the IAA target (NaN where
            unknown: those rows add no regression loss).

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        logits, iaa_pred = y_pred
        label = y_true[:, 0]
        loss = self.alpha * self.focal(logits, label) if self.alpha > 0 else 0.0
        if self.alpha < 1.0:
            iaa_pred = _at_least_float32(iaa_pred).reshape(-1)
            iaa_true = y_true[:, 1].to(iaa_pred.dtype)
            known = ~torch.isnan(iaa_true)
            if bool(known.any()):
                reg = F.smooth_l1_loss(iaa_pred[known], iaa_true[known], beta=self.beta)
            else:
                reg = iaa_pred.sum() * 0.0
            loss = loss + (1.0 - self.alpha) * reg
        return loss
