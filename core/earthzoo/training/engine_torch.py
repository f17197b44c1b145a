"""The PyTorch training engine (eager): AdamW, global-norm clipping, gradient
accumulation, rollout loss, autocast/GradScaler from the backend's precision
plan and DistributedDataParallel when launched by torchrun."""

from __future__ import annotations

import json
import random
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..frameworks import torch as tfw
from ..runtime import DeviceContext, PrecisionPlan
from .config import TrainConfig


class TorchEngine:
    framework = "torch"

    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, ctx: DeviceContext, next_input: Callable, plan: PrecisionPlan, model_config: Any = None, layout: Any = None):
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.cfg, self.ctx, self.plan = cfg, ctx, plan
        self.next_input, self.model_config = next_input, model_config
        self.layout = layout  # a DataSpec model: inputs assembled by name, forcings from the data
        self.mask = None
        if layout is not None and layout.mask is not None:
            self.mask = torch.from_numpy(np.asarray(layout.mask, np.float32)).to(ctx.device)[None, None]
        self.weight = None  # per-channel loss weights (DataSpec.residual_loss), (1, P, 1, 1)
        if layout is not None and getattr(layout, "loss_weight", None) is not None:
            self.weight = torch.from_numpy(np.asarray(layout.loss_weight, np.float32)).to(ctx.device)[None, :, None, None]
        self.model = tfw.mixed_precision(model.to(ctx.device).train(), plan)
        self.names = [n for n, _ in self.model.named_parameters()]
        self.params = [p for _, p in self.model.named_parameters()]
        self.world = ctx.world_size
        self.net: torch.nn.Module = _MaskedForward(self.model) if cfg.stage == "masked" else self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            # find_unused_parameters: FourCastNet keeps an unused norm, as the original
            self.net = DistributedDataParallel(self.net, broadcast_buffers=False, find_unused_parameters=True)
        self.opt = torch.optim.AdamW(
            self.params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay, foreach=False
        )
        if hasattr(torch.amp, "GradScaler"):
            self.scaler = torch.amp.GradScaler(ctx.device.split(":")[0], enabled=bool(plan.grad_scaler))
        else:  # torch < 2.3 (the DGL environment's 2.2): the CUDA scaler, which is what scaler plans are for
            self.scaler = torch.cuda.amp.GradScaler(enabled=bool(plan.grad_scaler))

    # ------------------------------------------------------------------ step
    def _loss(self, x: torch.Tensor, y: torch.Tensor, f: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over rollout steps of the MSE; over ocean points only when masked
        (land predictions are zeroed before they are fed back or scored); each
        channel's squared error times its loss weight when the layout has them."""
        inp, total = x, 0.0
        for r in range(y.shape[1]):
            with tfw.autocast(self.ctx.device, self.plan.autocast_dtype):
                out = self.net(inp)
            out = out.float()
            if self.mask is None:
                if self.weight is None:
                    total = total + F.mse_loss(out, y[:, r])
                else:
                    d = out - y[:, r]
                    total = total + (d * d * self.weight).mean()
            else:
                out = out * self.mask
                d = (out - y[:, r]) * self.mask
                d2 = d * d if self.weight is None else d * d * self.weight
                total = total + d2.sum() / (self.mask.sum() * out.shape[0] * out.shape[1])
            if r + 1 < y.shape[1]:
                if self.layout is not None:
                    inp = self.layout.next_input(lambda parts: torch.cat(parts, 1), inp, out, f[:, r])
                else:
                    inp = self.next_input(inp, out, r, self.model_config)
        return total / y.shape[1]

    def _masked_loss(
        self, x: torch.Tensor, target: torch.Tensor, keep: torch.Tensor, restore: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """MAE reconstruction error; ``weight`` (from earthzoo.training.masking) is zero
        off the hidden patches' ocean points and sums to one per channel."""
        with tfw.autocast(self.ctx.device, self.plan.autocast_dtype):
            out = self.net(x, keep, restore)
        d = out.float() - target
        return (d * d * weight).sum()

    def step(self, micro_batches: list[tuple[np.ndarray, ...]], lr: float) -> float:
        """One optimizer update from the micro-batches; returns the mean loss over
        all processes. A non-finite loss leaves the weights untouched."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        losses = []
        n = len(micro_batches)
        for i, batch in enumerate(micro_batches):
            tensors = [tfw.from_numpy(a, self.ctx.device) for a in batch]
            sync = self.world == 1 or i == n - 1
            ctx = self.net.no_sync() if not sync else _null()
            with ctx:
                if self.cfg.stage == "masked":
                    loss = self._masked_loss(*tensors)
                else:
                    loss = self._loss(tensors[0], tensors[1], tensors[2] if len(tensors) > 2 else None)
                self.scaler.scale(loss / n).backward()
            losses.append(loss.detach())
        mean = torch.stack(losses).mean()
        if self.world > 1:
            torch.distributed.all_reduce(mean)
            mean = mean / self.world
        value = float(mean)
        if not np.isfinite(value):
            self.opt.zero_grad(set_to_none=True)
            return value
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip, foreach=False)
        self.scaler.step(self.opt)
        self.scaler.update()
        return value

    # ------------------------------------------------------------------ state
    def weights(self) -> dict[str, np.ndarray]:
        return tfw.state_to_numpy(self.model)

    def load_weights(self, tensors: dict[str, np.ndarray]) -> None:
        tfw.load_numpy_state(self.model, tensors, "the model being trained")

    def optimizer_state(self) -> dict[str, Any]:
        """Framework-neutral AdamW state: update count and both moments by parameter name."""
        m, v, step = {}, {}, 0
        for name, p in zip(self.names, self.params):
            st = self.opt.state.get(p, {})
            if st:
                step = int(float(st["step"]))
                m[name] = tfw.to_numpy(st["exp_avg"]).copy()
                v[name] = tfw.to_numpy(st["exp_avg_sq"]).copy()
        return {"step": step, "exp_avg": m, "exp_avg_sq": v}

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        if not state["exp_avg"]:
            return
        for name, p in zip(self.names, self.params):
            if name not in state["exp_avg"]:  # a parameter that never got a gradient (unused in forward)
                continue
            self.opt.state[p] = {
                "step": torch.tensor(float(state["step"])),
                "exp_avg": torch.from_numpy(np.array(state["exp_avg"][name], copy=True)).to(p.device),
                "exp_avg_sq": torch.from_numpy(np.array(state["exp_avg_sq"][name], copy=True)).to(p.device),
            }
        if self.scaler.is_enabled() and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    def rng_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        np_state = np.random.get_state()
        arrays = {"torch": torch.get_rng_state().numpy().copy(), "numpy": np.asarray(np_state[1]).copy()}
        meta = {
            "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": json.loads(json.dumps(random.getstate())),
        }
        if self.scaler.is_enabled():
            meta["scaler"] = dict(self.scaler.state_dict())  # floats and ints: JSON as it is
        return arrays, meta

    def set_rng_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if "torch" in arrays:
            torch.set_rng_state(torch.from_numpy(np.array(arrays["torch"], dtype=np.uint8)))
        if "numpy" in arrays and "numpy" in meta:
            kind, pos, has_gauss, cached = meta["numpy"]
            np.random.set_state((kind, np.array(arrays["numpy"], dtype=np.uint32), pos, has_gauss, cached))
        if "python" in meta:
            version, internal, gauss = meta["python"]
            random.setstate((version, tuple(internal), gauss))
        if self.scaler.is_enabled() and "scaler" in meta:
            self.scaler.load_state_dict(meta["scaler"])


class _MaskedForward(torch.nn.Module):
    """``forward`` = the model's ``forward_masked``, so DistributedDataParallel (which
    hooks ``forward``) synchronises the pre-training gradients too."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, ids_keep, ids_restore):
        return self.model.forward_masked(x, ids_keep, ids_restore)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def init_distributed(ctx: DeviceContext) -> None:
    if ctx.world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(ctx.dist_backend, rank=ctx.rank, world_size=ctx.world_size)


def finish_distributed() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def barrier() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
