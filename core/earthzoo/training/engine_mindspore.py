"""The MindSpore training engine, compiled with ``ms.jit`` (graph mode).

MindSpore's ``nn.AdamWeightDecay`` is not torch's AdamW (no bias correction,
eps 1e-6, no decay on beta/gamma names) and ``mint.optim.AdamW`` has no CPU
kernel, so :class:`AdamW` below is written out with ``ops.assign`` to follow
``torch.optim.AdamW`` (single-tensor path) operation by operation; the bias
corrections are computed in float64 on the host, as torch does.

Gradients of the micro-batches are summed into one flat accumulator Parameter
inside the compiled step, so no tuple of tensors crosses a jit boundary (a new
tuple would make ``ms.jit`` recompile every call), and the optimizer updates all
parameters as one vector. With msrun, the accumulated gradient is averaged over
processes by one AllReduce."""

from __future__ import annotations

import json
import os
import random
from typing import Any, Callable

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops  # noqa: E402

from ..frameworks import mindspore as msfw  # noqa: E402
from ..ops import resolved_ops  # noqa: E402
from ..runtime import DeviceContext, PrecisionPlan  # noqa: E402
from .config import TrainConfig  # noqa: E402


class RolloutLoss(nn.Cell):
    """Mean squared error averaged over ``rollout`` autoregressive steps. With a
    data layout (a DataSpec model) each next input is the predicted prognostic
    state + the data's forcings ``f[:, r]`` (an input of the compiled step) +
    the static channels; with a mask the error is over ocean points only; with
    loss weights (a constant Tensor, (1, P, 1, 1)) each channel's squared error
    is multiplied by its weight."""

    def __init__(self, net: nn.Cell, rollout: int, next_input: Callable, model_config: Any, layout: Any = None):
        super().__init__(auto_prefix=False)
        self.net = net
        self.rollout = rollout
        self.next_input = next_input
        self.model_config = model_config
        self.spec = layout is not None
        self.masked = layout is not None and layout.mask is not None
        if self.spec:
            self.P, self.hp, self.F, self.S = layout.prognostic, layout.history * layout.prognostic, layout.forcing, layout.static
        if self.masked:
            m = np.asarray(layout.mask, np.float32)[None, None]
            self.mask = Tensor(m)
            self.mask_count = float(m.sum())
        self.weighted = layout is not None and getattr(layout, "loss_weight", None) is not None
        if self.weighted:
            self.weight = Tensor(np.asarray(layout.loss_weight, np.float32)[None, :, None, None])

    def _next(self, inp, out, forcing):
        parts = []
        if self.hp > self.P:
            parts.append(inp[:, self.P : self.hp])
        parts.append(out)
        if self.F > 0:
            parts.append(forcing)
        if self.S > 0:
            parts.append(inp[:, self.hp + self.F :])
        return ops.concat(tuple(parts), 1)

    def construct(self, x, y, f):
        inp = x
        total = 0.0
        for r in range(self.rollout):
            out = self.net(inp).astype(ms.float32)
            if self.masked:
                out = out * self.mask
                d = (out - y[:, r]) * self.mask
                d2 = d * d
                if self.weighted:
                    d2 = d2 * self.weight
                total = total + d2.sum() / (self.mask_count * out.shape[0] * out.shape[1])
            else:
                d = out - y[:, r]
                d2 = d * d
                if self.weighted:
                    d2 = d2 * self.weight
                total = total + d2.mean()
            if r + 1 < self.rollout:
                if self.spec:
                    inp = self._next(inp, out, f[:, r])
                else:
                    inp = self.next_input(inp, out, r, self.model_config)
        return total / self.rollout


class MaskedLoss(nn.Cell):
    """MAE reconstruction error of ``net.forward_masked``; ``weight`` (from
    earthzoo.training.masking) is zero off the hidden patches' ocean points and
    sums to one per channel."""

    def __init__(self, net: nn.Cell):
        super().__init__(auto_prefix=False)
        self.net = net

    def construct(self, x, target, ids_keep, ids_restore, weight):
        d = self.net.forward_masked(x, ids_keep, ids_restore).astype(ms.float32) - target
        return (d * d * weight).sum()


class AdamW(nn.Cell):
    """torch.optim.AdamW (amsgrad off) with torch's clip_grad_norm_ in front, as one
    fused update over all parameters flattened into one vector: the clip, both moments
    and the step are a handful of kernels whatever the parameter count (per parameter,
    about ten kernels each: the update cost 4-40x torch's on CPU), or one where the
    backend's op table has ``adamw`` (the CPU's compiled kernel, which updates the
    parameters, one tensor each, and the moments in place). The moments live flat
    (``exp_avg``/``exp_avg_sq``); :meth:`moments` slices them back by parameter.

    ``flat_grad`` is the summed gradient, flat; ``decay`` = 1 - lr*wd, ``step_size`` =
    lr / (1 - beta1^t), ``bc2_sqrt`` = sqrt(1 - beta2^t), all from the host."""

    def __init__(self, params: list[Parameter], betas: tuple[float, float], eps: float, clip: float, fused: nn.Cell | None = None):
        super().__init__(auto_prefix=False)
        self.params = ParameterTuple(params)
        self.shapes = [tuple(p.shape) for p in params]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = [int(o) for o in np.cumsum([0] + self.sizes)]
        total = self.offsets[-1]
        self.exp_avg = Parameter(Tensor(np.zeros(total, np.float32)), name="exp_avg", requires_grad=False)
        self.exp_avg_sq = Parameter(Tensor(np.zeros(total, np.float32)), name="exp_avg_sq", requires_grad=False)
        self.beta1, self.beta2, self.eps, self.clip = float(betas[0]), float(betas[1]), float(eps), float(clip)
        self.n = len(params)
        self.fused = fused
        self.constants = Tensor(np.array([self.beta1, self.beta2, self.eps, max(self.clip, 0.0)], np.float32))

    def construct(self, flat_grad, decay, step_size, bc2_sqrt):
        if self.fused is not None:  # parameters and moments updated in place: no slicing, no assigns
            hyper = ops.concat((decay.reshape(1), step_size.reshape(1), bc2_sqrt.reshape(1), self.constants))
            return self.fused(self.params, flat_grad, self.exp_avg, self.exp_avg_sq, hyper).reshape(())
        norm = ops.sqrt((flat_grad * flat_grad).sum())
        g = flat_grad
        if self.clip > 0:
            g = g * ops.minimum(self.clip / (norm + 1e-6), ops.ones_like(norm))
        m = self.exp_avg + (1.0 - self.beta1) * (g - self.exp_avg)
        v = self.exp_avg_sq * self.beta2 + (1.0 - self.beta2) * g * g
        p = flatten(self.params) * decay - step_size * (m / (ops.sqrt(v) / bc2_sqrt + self.eps))
        ops.assign(self.exp_avg, m)
        ops.assign(self.exp_avg_sq, v)
        for i in range(self.n):
            ops.assign(self.params[i], p[self.offsets[i] : self.offsets[i + 1]].reshape(self.shapes[i]))
        return norm

    def moments(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Both moments as one array per parameter (in parameter order)."""
        out = []
        for flat in (self.exp_avg, self.exp_avg_sq):
            a = msfw.to_numpy(flat)
            out.append([part.reshape(s) for part, s in zip(np.split(a, np.cumsum(self.sizes)[:-1]), self.shapes)])
        return out[0], out[1]

    def load_moments(self, exp_avg: list[np.ndarray], exp_avg_sq: list[np.ndarray]) -> None:
        for flat, parts in ((self.exp_avg, exp_avg), (self.exp_avg_sq, exp_avg_sq)):
            flat.set_data(Tensor(np.concatenate([np.asarray(a, np.float32).reshape(-1) for a in parts])))


def flatten(tensors) -> Tensor:
    """One float32 vector of all ``tensors`` (gradients or parameters), in order."""
    parts = []
    for t in tensors:
        parts.append(t.reshape(-1))
    return ops.concat(parts)


class LossScale:
    """Dynamic loss scaling with torch's ``GradScaler`` rule and defaults: the loss is
    multiplied by ``scale`` before backward and the gradients divided by it; an update
    whose gradients hold an inf or NaN is skipped and halves the scale, and every
    ``interval`` updates in a row without one double it. Its state goes into the
    checkpoint (``state``/``load``), so a resumed fp16 run is exact."""

    def __init__(self, scale: float = 2.0**16, growth: float = 2.0, backoff: float = 0.5, interval: int = 2000):
        self.scale, self.growth, self.backoff, self.interval = float(scale), float(growth), float(backoff), int(interval)
        self.tracker = 0

    def update(self, finite: bool) -> None:
        if not finite:
            self.scale *= self.backoff
            self.tracker = 0
            return
        self.tracker += 1
        if self.tracker == self.interval:
            self.scale *= self.growth
            self.tracker = 0

    def state(self) -> dict[str, float]:
        return {"scale": self.scale, "growth_factor": self.growth, "backoff_factor": self.backoff, "growth_interval": self.interval, "_growth_tracker": self.tracker}

    def load(self, state: dict[str, Any]) -> None:
        self.scale, self.growth, self.backoff = float(state["scale"]), float(state["growth_factor"]), float(state["backoff_factor"])
        self.interval, self.tracker = int(state["growth_interval"]), int(state["_growth_tracker"])


class _Scaled(nn.Cell):
    """The loss times the loss scale (1 without loss scaling: exact in float32)."""

    def __init__(self, loss_net: nn.Cell):
        super().__init__(auto_prefix=False)
        self.loss_net = loss_net

    def construct(self, scale, *inputs):
        return self.loss_net(*inputs) * scale


class MindSporeEngine:
    framework = "mindspore"

    def __init__(self, model: nn.Cell, cfg: TrainConfig, ctx: DeviceContext, next_input: Callable, plan: PrecisionPlan, model_config: Any = None, layout: Any = None):
        self.cfg, self.ctx, self.plan = cfg, ctx, plan
        self.model = model
        model.set_train(True)
        net = msfw.mixed_precision(model, plan)
        self.masked = cfg.stage == "masked"
        self.loss_net = MaskedLoss(net) if self.masked else RolloutLoss(net, cfg.rollout_steps, next_input, model_config, layout)
        self._no_forcing = Tensor(np.zeros((1,), np.float32))
        named = list(model.parameters_and_names())
        self.names = [n for n, p in named if p.requires_grad]
        params = [p for _, p in named if p.requires_grad]
        self.weights_tuple = ParameterTuple(params)
        fused = resolved_ops("mindspore", ctx.backend).get("adamw")
        self.opt = AdamW(params, cfg.betas, cfg.eps, cfg.grad_clip, fused() if fused is not None else None)
        # the summed gradient, flat: one accumulate, one zeroing, one finiteness check
        self.acc = Parameter(Tensor(np.zeros(sum(self.opt.sizes), np.float32)), name="grad_acc", requires_grad=False)
        self.t = 0
        self.world = ctx.world_size
        allreduce = None
        if self.world > 1:
            from mindspore.communication import GlobalComm

            allreduce = ops.AllReduce(group=GlobalComm.WORLD_COMM_GROUP)
        self.loss_scale = LossScale() if plan.grad_scaler else None
        grad_fn = ms.value_and_grad(_Scaled(self.loss_net), None, self.weights_tuple)
        acc, opt, world = self.acc, self.opt, self.world

        @ms.jit
        def accumulate(scale, loss_scale, *inputs):
            loss, grads = grad_fn(loss_scale, *inputs)
            ops.assign_add(acc, flatten(grads) * scale)
            return loss

        @ms.jit
        def zero():
            ops.assign(acc, ops.zeros_like(acc))
            return ops.zeros((), ms.float32)

        @ms.jit
        def finite():
            return ops.isfinite(acc).all()

        @ms.jit
        def apply(decay, step_size, bc2_sqrt):
            grad = acc * 1.0
            if allreduce is not None:  # the mean over processes, as DistributedGradReducer(mean=True)
                grad = allreduce(grad) / world
            norm = opt(grad, decay, step_size, bc2_sqrt)
            ops.assign(acc, ops.zeros_like(acc))
            return norm

        self._accumulate, self._apply, self._finite, self._zero = accumulate, apply, finite, zero
        self._allreduce = allreduce

    def _zero_acc(self) -> None:
        """Inside the graph: ``set_data`` on the accumulators is not seen by the compiled steps."""
        self._zero()

    def step(self, micro_batches: list[tuple[np.ndarray, ...]], lr: float) -> float:
        n = len(micro_batches)
        ls = self.loss_scale.scale if self.loss_scale else 1.0
        scale = Tensor(np.float32(1.0 / (n * ls)))  # the mean over micro-batches, unscaled
        loss_scale = Tensor(np.float32(ls))
        losses = []
        for batch in micro_batches:
            if self.masked:  # x, target, ids_keep, ids_restore, weight
                inputs = tuple(Tensor(a) for a in batch)
            else:
                inputs = (Tensor(batch[0]), Tensor(batch[1]), Tensor(batch[2]) if len(batch) > 2 else self._no_forcing)
            losses.append(float(self._accumulate(scale, loss_scale, *inputs).asnumpy()) / ls)
        value = float(np.mean(losses))
        if self._allreduce is not None:
            value = float(self._allreduce(Tensor(np.array([value], np.float32))).asnumpy()[0]) / self.world
        if not np.isfinite(value):
            self._zero_acc()
            return value
        if self.loss_scale is not None:
            finite = bool(self._finite().asnumpy())
            self.loss_scale.update(finite)
            if not finite:  # overflow in the scaled gradients: skip this update, as GradScaler does
                self._zero_acc()
                return value
        self.t += 1
        b1, b2 = self.cfg.betas
        decay = 1.0 - lr * self.cfg.weight_decay
        step_size = lr / (1.0 - b1**self.t)
        bc2_sqrt = (1.0 - b2**self.t) ** 0.5
        self._apply(Tensor(np.float32(decay)), Tensor(np.float32(step_size)), Tensor(np.float32(bc2_sqrt)))
        return value

    # ------------------------------------------------------------------ state
    def weights(self) -> dict[str, np.ndarray]:
        return msfw.state_to_numpy(self.model)

    def load_weights(self, tensors: dict[str, np.ndarray]) -> None:
        msfw.load_numpy_state(self.model, tensors, "the model being trained")

    def optimizer_state(self) -> dict[str, Any]:
        if self.t == 0:
            return {"step": 0, "exp_avg": {}, "exp_avg_sq": {}}
        m, v = self.opt.moments()
        return {"step": self.t, "exp_avg": dict(zip(self.names, m)), "exp_avg_sq": dict(zip(self.names, v))}

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        self.t = int(state["step"])
        if not state["exp_avg"]:
            return
        # a parameter torch never saw a gradient for (an unused norm) has no moments: zeros
        zeros = [np.zeros(s, np.float32) for s in self.opt.shapes]
        self.opt.load_moments(*([state[k].get(n, z) for n, z in zip(self.names, zeros)] for k in ("exp_avg", "exp_avg_sq")))

    def rng_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        np_state = np.random.get_state()
        arrays = {"numpy": np.asarray(np_state[1]).copy()}
        meta = {
            "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": json.loads(json.dumps(random.getstate())),
        }
        if self.loss_scale is not None:
            meta["scaler"] = self.loss_scale.state()
        try:
            arrays["mindspore"] = ms.get_rng_state().asnumpy().copy()
        except Exception:  # noqa: BLE001 - older MindSpore: the seed alone is restored
            pass
        return arrays, meta

    def set_rng_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if "numpy" in arrays and "numpy" in meta:
            kind, pos, has_gauss, cached = meta["numpy"]
            np.random.set_state((kind, np.array(arrays["numpy"], dtype=np.uint32), pos, has_gauss, cached))
        if "python" in meta:
            version, internal, gauss = meta["python"]
            random.setstate((version, tuple(internal), gauss))
        if self.loss_scale is not None and "scaler" in meta:
            self.loss_scale.load(meta["scaler"])
        if "mindspore" in arrays:
            try:
                ms.set_rng_state(Tensor(arrays["mindspore"]))
            except Exception:  # noqa: BLE001
                pass


def init_distributed(ctx: DeviceContext) -> None:
    if ctx.world_size > 1:
        from mindspore.communication import init

        init()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True, device_num=ctx.world_size)


def finish_distributed() -> None:
    return None


def barrier() -> None:
    return None
