// earthzoo's CPU kernels for MindSpore, called through ops.Custom(func_type="aot").
// MindSpore 2.10's own LayerNorm kernels take 5x (forward) and 40x (backward) torch's
// time on CPU, its bias gradient (BiasAddGrad) several times a row sum's, its exact GELU
// (erf formula) five element-wise ops each way; these do one
// pass over each row, vectorised, single-threaded. float32 only (amp's "auto" level
// gives these ops float32: the widest of their inputs, the parameters).
// Signature: MindSpore's aot convention (inputs then outputs in params); 0 = success.
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef EARTHZOO_MVEC
// glibc's vector maths (libmvec, erff from 2.35): lets the GELU loops vectorise, as
// -ffast-math would, without relaxing the float arithmetic of the other kernels
#pragma omp declare simd notinbranch
extern "C" float erff(float) noexcept;
#pragma omp declare simd notinbranch
extern "C" float expf(float) noexcept;
#endif

namespace {

bool all_float32(int nparam, const char **dtypes) {
  for (int i = 0; i < nparam; ++i)
    if (std::strcmp(dtypes[i], "float32") != 0) return false;
  return true;
}

int64_t elements(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

// rows x channels of a tensor taken along its last axis
void rows_and_channels(int ndim, const int64_t *shape, int64_t *rows, int64_t *channels) {
  *channels = shape[ndim - 1];
  *rows = elements(ndim - 1, shape);
}

constexpr float kSqrtHalf = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;

}  // namespace

// x (..., C), weight (C), bias (C), eps (1) -> y (..., C), mean (..., 1), rstd (..., 1)
extern "C" int earthzoo_layer_norm(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 7 || !all_float32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]);
  const float eps = *static_cast<const float *>(params[3]);
  float *y = static_cast<float *>(params[4]);
  float *mean = static_cast<float *>(params[5]);
  float *rstd = static_cast<float *>(params[6]);
  int64_t rows, C;
  rows_and_channels(ndims[0], shapes[0], &rows, &C);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < C; ++c) sum += xr[c];
    const float m = sum / C;
    float sq = 0.f;
#pragma omp simd reduction(+ : sq)
    for (int64_t c = 0; c < C; ++c) {
      const float d = xr[c] - m;
      sq += d * d;
    }
    const float rs = 1.f / std::sqrt(sq / C + eps);
    mean[r] = m;
    rstd[r] = rs;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * rs * w[c] + b[c];
  }
  return 0;
}

// dy (..., C), x (..., C), weight (C), mean (..., 1), rstd (..., 1) -> dx (..., C), dweight (C), dbias (C)
extern "C" int earthzoo_layer_norm_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 8 || !all_float32(nparam, dtypes)) return 1;
  const float *dy = static_cast<const float *>(params[0]);
  const float *x = static_cast<const float *>(params[1]);
  const float *w = static_cast<const float *>(params[2]);
  const float *mean = static_cast<const float *>(params[3]);
  const float *rstd = static_cast<const float *>(params[4]);
  float *dx = static_cast<float *>(params[5]);
  float *dw = static_cast<float *>(params[6]);
  float *db = static_cast<float *>(params[7]);
  int64_t rows, C;
  rows_and_channels(ndims[1], shapes[1], &rows, &C);
  std::memset(dw, 0, C * sizeof(float));
  std::memset(db, 0, C * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * C, *dyr = dy + r * C;
    float *dxr = dx + r * C;
    const float m = mean[r], rs = rstd[r];
    float sum_g = 0.f, sum_gx = 0.f;  // sums over the row of dy*w and dy*w*xhat
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = (xr[c] - m) * rs, g = dyr[c] * w[c];
      sum_g += g;
      sum_gx += g * xhat;
      dw[c] += dyr[c] * xhat;
      db[c] += dyr[c];
    }
    const float mean_g = sum_g / C, mean_gx = sum_gx / C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = (xr[c] - m) * rs;
      dxr[c] = rs * (dyr[c] * w[c] - mean_g - xhat * mean_gx);
    }
  }
  return 0;
}

// x (..., C), bias (C) -> x + bias
extern "C" int earthzoo_bias_add(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 3 || !all_float32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *b = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  int64_t rows, C;
  rows_and_channels(ndims[0], shapes[0], &rows, &C);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] + b[c];
  }
  return 0;
}

// dy (..., C), bias (C, for its shape) -> dbias (C): dy summed over its rows
extern "C" int earthzoo_bias_add_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 3 || !all_float32(nparam, dtypes)) return 1;
  const float *dy = static_cast<const float *>(params[0]);
  float *db = static_cast<float *>(params[2]);
  int64_t rows, C;
  rows_and_channels(ndims[0], shapes[0], &rows, &C);
  std::memset(db, 0, C * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    const float *d = dy + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) db[c] += d[c];
  }
  return 0;
}

// x -> x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): torch's exact GELU
extern "C" int earthzoo_gelu(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 2 || !all_float32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(params[1]);
  const int64_t n = elements(ndims[0], shapes[0]);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.f + erff(x[i] * kSqrtHalf));
  return 0;
}

// dy, x -> dx = dy (Phi(x) + x phi(x))
extern "C" int earthzoo_gelu_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 3 || !all_float32(nparam, dtypes)) return 1;
  const float *dy = static_cast<const float *>(params[0]);
  const float *x = static_cast<const float *>(params[1]);
  float *dx = static_cast<float *>(params[2]);
  const int64_t n = elements(ndims[1], shapes[1]);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    dx[i] = dy[i] * (0.5f * (1.f + erff(v * kSqrtHalf)) + v * kInvSqrt2Pi * expf(-0.5f * v * v));
  }
  return 0;
}

// torch's clip_grad_norm_ + AdamW step over all parameters flattened into one vector,
// one pass each for the norm and the update, operation by operation as the engine's
// graph (and torch's single-tensor AdamW) does it; built with -ffp-contract=off.
// p, g, m, v (n), hyper (7: decay = 1 - lr*wd, step_size = lr / (1 - beta1^t),
// bc2_sqrt = sqrt(1 - beta2^t), beta1, beta2, eps, clip (0: none))
//   -> p', m', v' (n), the gradient's norm before clipping (1)
extern "C" int earthzoo_adamw(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 9 || !all_float32(nparam, dtypes)) return 1;
  const float *p = static_cast<const float *>(params[0]), *g = static_cast<const float *>(params[1]);
  const float *m = static_cast<const float *>(params[2]), *v = static_cast<const float *>(params[3]);
  const float *h = static_cast<const float *>(params[4]);
  float *p_out = static_cast<float *>(params[5]), *m_out = static_cast<float *>(params[6]);
  float *v_out = static_cast<float *>(params[7]), *norm_out = static_cast<float *>(params[8]);
  const float decay = h[0], step_size = h[1], bc2_sqrt = h[2], beta1 = h[3], beta2 = h[4], eps = h[5], clip = h[6];
  const int64_t n = elements(ndims[0], shapes[0]);
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(g[i]) * g[i];
  const float norm = static_cast<float>(std::sqrt(sq));
  *norm_out = norm;
  const float coef = clip > 0.f ? std::fmin(clip / (norm + 1e-6f), 1.f) : 1.f;
  const float one_minus_b1 = 1.f - beta1, one_minus_b2 = 1.f - beta2;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * coef;
    const float mi = m[i] + one_minus_b1 * (gi - m[i]);
    const float vi = v[i] * beta2 + one_minus_b2 * gi * gi;
    m_out[i] = mi;
    v_out[i] = vi;
    p_out[i] = p[i] * decay - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
  }
  return 0;
}
