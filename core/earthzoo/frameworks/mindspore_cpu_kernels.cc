// earthzoo's CPU kernels for MindSpore, called through ops.Custom(func_type="aot").
// MindSpore 2.10's own LayerNorm kernels take 5x (forward) and 40x (backward) torch's
// time on CPU, its bias gradient (BiasAddGrad) several times a row sum's, its exact GELU
// (erf formula) five element-wise ops each way, its real FFTs and their gradients about
// 5x torch's; these do one pass over each row, vectorised, spread over a pool of threads
// of our own (below) in a fixed split: each element is computed as on one thread, so
// results do not depend on the thread count (oneDNN's sgemm, which shares a large
// product between threads, aside). float32 only
// (amp's "auto" level gives these ops float32: the widest of their inputs, the parameters).
// Signature: MindSpore's aot convention (inputs then outputs in params); 0 = success.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifdef EARTHZOO_MVEC
// glibc's vector maths (libmvec, erff from 2.35): lets the GELU loops vectorise, as
// -ffast-math would, without relaxing the float arithmetic of the other kernels
#pragma omp declare simd notinbranch
extern "C" float erff(float) noexcept;
#pragma omp declare simd notinbranch
extern "C" float expf(float) noexcept;
#endif

// ---- the thread pool: as many threads as earthzoo_set_threads says (by default one per
// CPU the process may use; MindSpore sets OMP_NUM_THREADS=1 for itself on import, so the
// environment is no guide here), spinning for 200 us between calls and then sleeping
// (OpenMP's threads, which spin for milliseconds, took the CPU from MindSpore's and
// torch's own). It implements oneDNN's threadpool interface, so the sgemm below runs on it.

namespace dnnl {
namespace threadpool_interop {
// oneDNN's threadpool interface (dnnl_threadpool_iface.hpp), declared as it is there
struct threadpool_iface {
  virtual int get_num_threads() const = 0;
  virtual bool get_in_parallel() const = 0;
  virtual void parallel_for(int n, const std::function<void(int, int)> &fn) = 0;
  virtual uint64_t get_flags() const = 0;
  virtual ~threadpool_iface() {}
};
}  // namespace threadpool_interop
}  // namespace dnnl

namespace {
thread_local bool in_pool_work = false;

int cpus_allowed() {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof(set), &set) == 0 ? std::max(1, CPU_COUNT(&set)) : 1;
}

// a worker spins this long for the next job, and the caller for the workers to finish,
// before sleeping: a graph's kernels follow each other within tens of microseconds, and
// waking a sleeping thread (on a VM, a halted vCPU) costs as much again. FourCastNet's
// MindSpore forward at `small`, two threads: 8.4-9.7 ms sleeping at once, 5.6-6.9 spinning.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// true once ready() holds, false if it did not within kSpin
template <class P>
bool spin_until(const P &ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return ready();
  }
}

class SleepingPool final : public dnnl::threadpool_interop::threadpool_iface {
 public:
  SleepingPool() : owner_(getpid()) { resize(cpus_allowed()); }
  // `threads` from now on, the caller's included; workers are started as needed and kept
  void resize(int threads) {
    std::lock_guard<std::mutex> caller(caller_);
    std::unique_lock<std::mutex> lock(mutex_);
    for (const uint64_t now = generation_; workers_ < threads - 1; ++workers_) std::thread([this, now] { serve(now); }).detach();
    threads_ = std::max(1, threads);
  }
  int get_num_threads() const override { return getpid() == owner_ ? threads_.load() : 1; }  // a forked child has no workers
  bool get_in_parallel() const override { return in_pool_work; }
  uint64_t get_flags() const override { return 0; }  // synchronous
  void parallel_for(int n, const std::function<void(int, int)> &fn) override {
    // one caller at a time: MindSpore's actor threads can run two kernels at once; the
    // second runs its items itself rather than wait for (or overwrite) the first's job
    std::unique_lock<std::mutex> caller(caller_, std::try_to_lock);
    if (get_num_threads() == 1 || n <= 1 || in_pool_work || !caller.owns_lock()) {
      for (int i = 0; i < n; ++i) fn(i, n);
      return;
    }
    bool sleeping;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn, items_ = n, next_ = 0, busy_ = workers_, sleeping = sleepers_ > 0;
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping) wake_.notify_all();
    work();
    if (spin_until([this] { return busy_.load(std::memory_order_acquire) == 0; })) return;
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busy_.load() == 0; });
  }

 private:
  void work() {
    in_pool_work = true;
    for (int i; (i = next_.fetch_add(1)) < items_;) (*job_)(i, items_);
    in_pool_work = false;
  }
  void serve(uint64_t seen) {  // seen: the last job before this worker was counted in
    for (;;) {
      if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleepers_;
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        --sleepers_;
      }
      seen = generation_.load(std::memory_order_acquire);
      work();
      if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);  // the caller may be between its test and its wait
        done_.notify_one();
      }
    }
  }
  const pid_t owner_;
  std::atomic<int> threads_{1};
  int workers_ = 0, sleepers_ = 0;
  std::mutex caller_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int, int)> *job_ = nullptr;
  int items_ = 0;
  std::atomic<int> next_{0}, busy_{0};
  std::atomic<uint64_t> generation_{0};
};

SleepingPool &pool() {
  static SleepingPool *p = new SleepingPool();  // never destroyed: its threads live as long as the process
  return *p;
}

}  // namespace

// the kernels' thread count from now on (earthzoo's `threads`)
extern "C" void earthzoo_set_threads(int threads) { pool().resize(threads); }

namespace {

constexpr int64_t kMinWork = 1 << 15;  // elements' work below which a block is not worth waking a thread for

// fn(begin, end) over [0, n) in at most one block per thread, each of at least kMinWork
// elements (`cost` per item); every item is computed the same whatever the split.
template <class F>
void parallel_range(int64_t n, int64_t cost, const F &fn) {
  const int64_t blocks = std::min<int64_t>({pool().get_num_threads(), n, std::max<int64_t>(1, n * cost / kMinWork)});
  if (blocks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  const std::function<void(int, int)> job = [&](int i, int k) { fn(n * i / k, n * (i + 1) / k); };
  pool().parallel_for(static_cast<int>(blocks), job);
}

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

// out (cols) = the sum of the rows of dy (rows x cols): a bias's gradient; split by
// columns, each summed over the rows in order
void sum_rows(const float *dy, int64_t rows, int64_t cols, float *out) {
  parallel_range(cols, rows, [&](int64_t c0, int64_t c1) {
    std::fill(out + c0, out + c1, 0.f);
    for (int64_t r = 0; r < rows; ++r) {
      const float *d = dy + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) out[c] += d[c];
    }
  });
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
  parallel_range(rows, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
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
  });
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
  parallel_range(rows, 2 * C, [&](int64_t r0, int64_t r1) {  // dx, by rows
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * C, *dyr = dy + r * C;
      float *dxr = dx + r * C;
      const float m = mean[r], rs = rstd[r];
      float sum_g = 0.f, sum_gx = 0.f;  // sums over the row of dy*w and dy*w*xhat
#pragma omp simd reduction(+ : sum_g, sum_gx)
      for (int64_t c = 0; c < C; ++c) {
        const float xhat = (xr[c] - m) * rs, g = dyr[c] * w[c];
        sum_g += g;
        sum_gx += g * xhat;
      }
      const float mean_g = sum_g / C, mean_gx = sum_gx / C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float xhat = (xr[c] - m) * rs;
        dxr[c] = rs * (dyr[c] * w[c] - mean_g - xhat * mean_gx);
      }
    }
  });
  parallel_range(C, rows, [&](int64_t c0, int64_t c1) {  // dweight and dbias, by columns, each summed over the rows in order
    std::fill(dw + c0, dw + c1, 0.f);
    std::fill(db + c0, db + c1, 0.f);
    for (int64_t r = 0; r < rows; ++r) {
      const float *xr = x + r * C, *dyr = dy + r * C;
      const float m = mean[r], rs = rstd[r];
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        dw[c] += dyr[c] * ((xr[c] - m) * rs);
        db[c] += dyr[c];
      }
    }
  });
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
  parallel_range(rows, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * C;
      float *yr = y + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] + b[c];
    }
  });
  return 0;
}

// dy (..., C), bias (C, for its shape) -> dbias (C): dy summed over its rows
extern "C" int earthzoo_bias_add_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 3 || !all_float32(nparam, dtypes)) return 1;
  const float *dy = static_cast<const float *>(params[0]);
  float *db = static_cast<float *>(params[2]);
  int64_t rows, C;
  rows_and_channels(ndims[0], shapes[0], &rows, &C);
  sum_rows(dy, rows, C, db);
  return 0;
}

// x -> x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): torch's exact GELU
extern "C" int earthzoo_gelu(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 2 || !all_float32(nparam, dtypes)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(params[1]);
  parallel_range(elements(ndims[0], shapes[0]), 4, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) y[i] = 0.5f * x[i] * (1.f + erff(x[i] * kSqrtHalf));
  });
  return 0;
}

// dy, x -> dx = dy (Phi(x) + x phi(x))
extern "C" int earthzoo_gelu_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 3 || !all_float32(nparam, dtypes)) return 1;
  const float *dy = static_cast<const float *>(params[0]);
  const float *x = static_cast<const float *>(params[1]);
  float *dx = static_cast<float *>(params[2]);
  parallel_range(elements(ndims[1], shapes[1]), 8, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const float v = x[i];
      dx[i] = dy[i] * (0.5f * (1.f + erff(v * kSqrtHalf)) + v * kInvSqrt2Pi * expf(-0.5f * v * v));
    }
  });
  return 0;
}

// torch's clip_grad_norm_ + AdamW step over all parameters, one pass each for the norm
// and the update, operation by operation as the engine's graph (and torch's
// single-tensor AdamW) does it; built with -ffp-contract=off. The parameters and both
// moments are updated in place (the op is marked as writing memory): no copies back
// through one Assign per parameter. The gradient and both moments are flat, in
// parameter order.
// p_1 .. p_n, g, m, v (flat), hyper (7: decay = 1 - lr*wd, step_size = lr / (1 - beta1^t),
// bc2_sqrt = sqrt(1 - beta2^t), beta1, beta2, eps, clip (0: none))
//   -> the gradient's norm before clipping (1)
extern "C" int earthzoo_adamw(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam < 6 || !all_float32(nparam, dtypes)) return 1;
  const int n = nparam - 5;
  const float *g = static_cast<const float *>(params[n]), *h = static_cast<const float *>(params[n + 3]);
  float *m = static_cast<float *>(params[n + 1]), *v = static_cast<float *>(params[n + 2]);
  float *norm_out = static_cast<float *>(params[n + 4]);
  const float decay = h[0], step_size = h[1], bc2_sqrt = h[2], beta1 = h[3], beta2 = h[4], eps = h[5], clip = h[6];
  const int64_t total = elements(ndims[n], shapes[n]);
  std::vector<int64_t> offset(n + 1, 0);  // parameter k's span of the flat gradient and moments
  for (int k = 0; k < n; ++k) offset[k + 1] = offset[k] + elements(ndims[k], shapes[k]);
  if (offset[n] != total) return 1;
  // the norm: fixed blocks of the gradient summed in double, the blocks then in order
  constexpr int64_t kBlock = 1 << 16;
  std::vector<double> partial((total + kBlock - 1) / kBlock);
  parallel_range(static_cast<int64_t>(partial.size()), kBlock, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double sq = 0.0;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = b * kBlock; i < std::min(total, (b + 1) * kBlock); ++i) sq += static_cast<double>(g[i]) * g[i];
      partial[b] = sq;
    }
  });
  double sq = 0.0;
  for (const double p : partial) sq += p;
  const float norm = static_cast<float>(std::sqrt(sq));
  *norm_out = norm;
  const float coef = clip > 0.f ? std::fmin(clip / (norm + 1e-6f), 1.f) : 1.f;
  const float one_minus_b1 = 1.f - beta1, one_minus_b2 = 1.f - beta2;
  parallel_range(total, 4, [&](int64_t i0, int64_t i1) {
    for (int k = static_cast<int>(std::upper_bound(offset.begin(), offset.end(), i0) - offset.begin()) - 1; k < n && offset[k] < i1; ++k) {
      const int64_t lo = std::max(i0, offset[k]), hi = std::min(i1, offset[k + 1]);
      float *p = static_cast<float *>(params[k]) + (lo - offset[k]), *mk = m + lo, *vk = v + lo;
      const float *gk = g + lo;
#pragma omp simd
      for (int64_t i = 0; i < hi - lo; ++i) {
        const float gi = gk[i] * coef;
        const float mi = mk[i] + one_minus_b1 * (gi - mk[i]);
        const float vi = vk[i] * beta2 + one_minus_b2 * gi * gi;
        mk[i] = mi;
        vk[i] = vi;
        p[i] = p[i] * decay - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
      }
    }
  });
  return 0;
}

// ---- real FFTs over the token axes of channels-last tensors (the AFNO filters) ----
// rfft2 over axes (1, 2) of x (B, H, W, C), ortho norm; a 3-D x (B, N, C) is the 1-D
// rfft over axis 1 (H = 1). Every transform runs along an axis with the channels (and,
// along H, the kept W modes) as the contiguous inner vector, so each butterfly is a
// vectorised loop and nothing is transposed: a Stockham FFT (mixed radix: 4, 2, then
// odd factors), twiddles in double, rounded once. Along an even W the real rows go
// through a complex transform of half the length (even samples as real parts, odd as
// imaginary) and one untangling pass: half the work of a full complex transform.

namespace {

struct FftPlan {
  int64_t n = 1;
  float sign = -1.f;  // -1 forward, +1 inverse
  std::vector<int> radix;
  std::vector<std::vector<float>> cos_, sin_;  // per stage, [k][r][q]: exp(sign 2 pi i r (k + q Ns) / (Ns p))
  std::vector<float> real_cos, real_sin;      // [l <= n]: exp(sign 2 pi i l / 2n), untangling a real transform of length 2n
};

FftPlan make_plan(int64_t n, int sign) {
  FftPlan plan;
  plan.n = n;
  plan.sign = static_cast<float>(sign);
  int64_t rest = n;
  for (int p : {4, 2})
    while (rest % p == 0) plan.radix.push_back(p), rest /= p;
  for (int p = 3; rest > 1; p += 2)
    while (rest % p == 0) plan.radix.push_back(p), rest /= p;
  int64_t ns = 1;
  for (int p : plan.radix) {
    const int64_t period = ns * p;
    std::vector<float> c(ns * p * p), s(ns * p * p);
    for (int64_t k = 0; k < ns; ++k)
      for (int r = 0; r < p; ++r)
        for (int q = 0; q < p; ++q) {
          const double angle = sign * 2.0 * M_PI * double((r * (k + q * ns)) % period) / double(period);
          c[(k * p + r) * p + q] = static_cast<float>(std::cos(angle));
          s[(k * p + r) * p + q] = static_cast<float>(std::sin(angle));
        }
    plan.cos_.push_back(std::move(c));
    plan.sin_.push_back(std::move(s));
    ns *= p;
  }
  for (int64_t l = 0; l <= n; ++l) {
    const double angle = sign * M_PI * double(l) / double(n);
    plan.real_cos.push_back(static_cast<float>(std::cos(angle)));
    plan.real_sin.push_back(static_cast<float>(std::sin(angle)));
  }
  return plan;
}

// A transform length's plan, made once per process: one takes thousands of double
// sincos (made per call, they were 30-55 of a 220 us rfft at (1, 512, 128), one thread).
const FftPlan &plan_for(int64_t n, int sign) {
  static std::mutex lock;
  static auto *plans = new std::map<std::pair<int64_t, int>, std::unique_ptr<const FftPlan>>();  // never freed: kernels may run at exit
  std::lock_guard<std::mutex> guard(lock);
  auto &plan = (*plans)[{n, sign}];
  if (!plan) plan = std::make_unique<const FftPlan>(make_plan(n, sign));
  return *plan;
}

// The DFT of n vectors of `inner` complex values (planar re / im, row k at k * inner),
// in place; tr / ti are scratch of the same size.
void fft_rows(const FftPlan &plan, int64_t inner, float *re, float *im, float *tr, float *ti) {
  float *ar = re, *ai = im, *br = tr, *bi = ti;
  const int64_t n = plan.n;
  int64_t ns = 1;
  for (size_t stage = 0; stage < plan.radix.size(); ++stage) {
    const int p = plan.radix[stage];
    const int64_t m = n / p;
    const float *C = plan.cos_[stage].data(), *S = plan.sin_[stage].data();
    for (int64_t j = 0; j < m; ++j) {
      const int64_t k = j % ns, base = (j / ns) * ns * p + k;
      const float *x0r = ar + j * inner, *x0i = ai + j * inner;
      if (p == 2) {  // y0 = x0 + w x1, y1 = x0 - w x1
        const float c = C[(k * 2 + 1) * 2], s = S[(k * 2 + 1) * 2];
        const float *x1r = ar + (j + m) * inner, *x1i = ai + (j + m) * inner;
        float *y0r = br + base * inner, *y0i = bi + base * inner;
        float *y1r = br + (base + ns) * inner, *y1i = bi + (base + ns) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
          const float tr_ = x1r[i] * c - x1i[i] * s, ti_ = x1r[i] * s + x1i[i] * c;
          y0r[i] = x0r[i] + tr_, y0i[i] = x0i[i] + ti_;
          y1r[i] = x0r[i] - tr_, y1i[i] = x0i[i] - ti_;
        }
        continue;
      }
      if (p == 4) {  // the twiddled inputs a, b, c, d; the 4-point DFT by additions and sign * i
        float cw[4], sw[4];
        for (int r = 1; r < 4; ++r) cw[r] = C[(k * 4 + r) * 4], sw[r] = S[(k * 4 + r) * 4];
        const float *x1r = ar + (j + m) * inner, *x1i = ai + (j + m) * inner;
        const float *x2r = ar + (j + 2 * m) * inner, *x2i = ai + (j + 2 * m) * inner;
        const float *x3r = ar + (j + 3 * m) * inner, *x3i = ai + (j + 3 * m) * inner;
        float *y0r = br + base * inner, *y0i = bi + base * inner;
        float *y1r = br + (base + ns) * inner, *y1i = bi + (base + ns) * inner;
        float *y2r = br + (base + 2 * ns) * inner, *y2i = bi + (base + 2 * ns) * inner;
        float *y3r = br + (base + 3 * ns) * inner, *y3i = bi + (base + 3 * ns) * inner;
        const float sg = plan.sign;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
          const float br_ = x1r[i] * cw[1] - x1i[i] * sw[1], bi_ = x1r[i] * sw[1] + x1i[i] * cw[1];
          const float cr_ = x2r[i] * cw[2] - x2i[i] * sw[2], ci_ = x2r[i] * sw[2] + x2i[i] * cw[2];
          const float dr_ = x3r[i] * cw[3] - x3i[i] * sw[3], di_ = x3r[i] * sw[3] + x3i[i] * cw[3];
          const float t0r = x0r[i] + cr_, t0i = x0i[i] + ci_, t1r = x0r[i] - cr_, t1i = x0i[i] - ci_;
          const float t2r = br_ + dr_, t2i = bi_ + di_, t3r = br_ - dr_, t3i = bi_ - di_;
          y0r[i] = t0r + t2r, y0i[i] = t0i + t2i;
          y2r[i] = t0r - t2r, y2i[i] = t0i - t2i;
          y1r[i] = t1r - sg * t3i, y1i[i] = t1i + sg * t3r;
          y3r[i] = t1r + sg * t3i, y3i[i] = t1i - sg * t3r;
        }
        continue;
      }
      if (p == 3) {  // y0 = a + (b + c), y1,2 = a - (b + c) / 2 +- sign i sqrt(3)/2 (b - c)
        float cw[3], sw[3];
        for (int r = 1; r < 3; ++r) cw[r] = C[(k * 3 + r) * 3], sw[r] = S[(k * 3 + r) * 3];
        const float *x1r = ar + (j + m) * inner, *x1i = ai + (j + m) * inner;
        const float *x2r = ar + (j + 2 * m) * inner, *x2i = ai + (j + 2 * m) * inner;
        float *y0r = br + base * inner, *y0i = bi + base * inner;
        float *y1r = br + (base + ns) * inner, *y1i = bi + (base + ns) * inner;
        float *y2r = br + (base + 2 * ns) * inner, *y2i = bi + (base + 2 * ns) * inner;
        const float h = plan.sign * 0.86602540378443865f;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) {
          const float br_ = x1r[i] * cw[1] - x1i[i] * sw[1], bi_ = x1r[i] * sw[1] + x1i[i] * cw[1];
          const float cr_ = x2r[i] * cw[2] - x2i[i] * sw[2], ci_ = x2r[i] * sw[2] + x2i[i] * cw[2];
          const float sr = br_ + cr_, si = bi_ + ci_, dr = br_ - cr_, di = bi_ - ci_;
          const float mr = x0r[i] - 0.5f * sr, mi = x0i[i] - 0.5f * si;
          y0r[i] = x0r[i] + sr, y0i[i] = x0i[i] + si;
          y1r[i] = mr - h * di, y1i[i] = mi + h * dr;
          y2r[i] = mr + h * di, y2i[i] = mi - h * dr;
        }
        continue;
      }
      for (int q = 0; q < p; ++q) {  // any other radix: its p-point DFT directly
        float *yr = br + (base + q * ns) * inner, *yi = bi + (base + q * ns) * inner;
        std::memcpy(yr, x0r, inner * sizeof(float));
        std::memcpy(yi, x0i, inner * sizeof(float));
        for (int r = 1; r < p; ++r) {
          const float c = C[(k * p + r) * p + q], s = S[(k * p + r) * p + q];
          const float *xr = ar + (j + r * m) * inner, *xi = ai + (j + r * m) * inner;
#pragma omp simd
          for (int64_t i = 0; i < inner; ++i) {
            yr[i] += xr[i] * c - xi[i] * s;
            yi[i] += xr[i] * s + xi[i] * c;
          }
        }
      }
    }
    std::swap(ar, br);
    std::swap(ai, bi);
    ns *= p;
  }
  if (ar != re) {
    std::memcpy(re, ar, n * inner * sizeof(float));
    std::memcpy(im, ai, n * inner * sizeof(float));
  }
}

// the one-sided spectrum's weight of mode l: 2 where its conjugate twin is left out
float twin_weight(int64_t l, int64_t w) { return (l == 0 || 2 * l == w) ? 1.f : 2.f; }

struct Axes {
  int64_t b, h, w, c;
};

// (B, H, W, C) or (B, N, C) = (B, 1, N, C)
bool token_axes(int ndim, const int64_t *shape, Axes *a) {
  if (ndim == 4) *a = {shape[0], shape[1], shape[2], shape[3]};
  else if (ndim == 3) *a = {shape[0], 1, shape[1], shape[2]};
  else return false;
  return true;
}

constexpr int64_t kChunk = 256;  // columns transformed together: a chunk's n x 256 complex rows stay in cache

// The width of the column chunks for `rows` rows of `width` columns: at most kChunk, and
// narrow enough (a multiple of 16) that every thread gets one. Each column's transform
// is the same whatever the width.
int64_t chunk_width(int64_t width, int64_t rows) {
  const int64_t threads = pool().get_num_threads(), per_row = (threads + rows - 1) / rows;
  return std::min({width, kChunk, std::max<int64_t>(16, ((width + per_row - 1) / per_row + 15) / 16 * 16)});
}

// The DFT along the n rows of an n x width block (row stride `stride`) from src to dst
// (which may be src), a chunk of columns at a time.
void fft_columns(const FftPlan &plan, int64_t width, int64_t stride, const float *src_re, const float *src_im, float *re, float *im) {
  const int64_t n = plan.n, chunk = chunk_width(width, 1);
  parallel_range((width + chunk - 1) / chunk, 4 * n * chunk, [&](int64_t j0, int64_t j1) {
    std::vector<float> buf(4 * n * chunk);
    float *cr = buf.data(), *ci = cr + n * chunk, *tr = ci + n * chunk, *ti = tr + n * chunk;
    for (int64_t c0 = j0 * chunk; c0 < std::min(width, j1 * chunk); c0 += chunk) {
      const int64_t w = std::min(chunk, width - c0);
      for (int64_t k = 0; k < n; ++k) {
        std::memcpy(cr + k * w, src_re + k * stride + c0, w * sizeof(float));
        std::memcpy(ci + k * w, src_im + k * stride + c0, w * sizeof(float));
      }
      fft_rows(plan, w, cr, ci, tr, ti);
      for (int64_t k = 0; k < n; ++k) {
        std::memcpy(re + k * stride + c0, cr + k * w, w * sizeof(float));
        std::memcpy(im + k * stride + c0, ci + k * w, w * sizeof(float));
      }
    }
  });
}

// fn(h, c0, w, re, im, tr, ti) for every row h < rows and chunk [c0, c0 + w) of `channels`,
// spread over the pool; re .. ti are scratch of n x w each
template <class F>
void for_row_chunks(int64_t rows, int64_t channels, int64_t n, const F &fn) {
  const int64_t chunk = chunk_width(channels, rows), chunks = (channels + chunk - 1) / chunk;
  parallel_range(rows * chunks, 4 * n * chunk, [&](int64_t j0, int64_t j1) {
    std::vector<float> work(4 * n * chunk);
    float *re = work.data(), *im = re + n * chunk, *tr = im + n * chunk, *ti = tr + n * chunk;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t h = j / chunks, c0 = (j % chunks) * chunk;
      fn(h, c0, std::min(chunk, channels - c0), re, im, tr, ti);
    }
  });
}

// x (B, H, W, C)[, like] -> re, im (B, H, Wr, C), the first Wr <= W/2+1 modes (as many as
// the outputs have: a gradient for an inverse given fewer modes), times twin_weight(l) if `weighted`
int real_to_spectrum(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, bool weighted) {
  Axes a;
  if ((nparam != 3 && nparam != 4) || !all_float32(nparam, dtypes) || !token_axes(ndims[0], shapes[0], &a)) return 1;
  const float *x = static_cast<const float *>(params[0]);
  float *out_re = static_cast<float *>(params[nparam - 2]), *out_im = static_cast<float *>(params[nparam - 1]);
  const int64_t wr = shapes[nparam - 2][ndims[nparam - 2] - 2], plane = a.h * wr * a.c;
  if (wr > a.w / 2 + 1) return 1;
  // an even W: the even and odd samples as one complex row of W/2, transformed and untangled
  const int64_t half = a.w % 2 == 0 ? a.w / 2 : 0;
  const FftPlan &along_w = plan_for(half ? half : a.w, -1), &along_h = plan_for(a.h, -1);
  const float scale = static_cast<float>(1.0 / std::sqrt(double(a.h * a.w)));
  for (int64_t b = 0; b < a.b; ++b) {
    float *zr = out_re + b * plane, *zi = out_im + b * plane;
    // along W: real rows, the first wr modes kept
    for_row_chunks(a.h, a.c, a.w, [&](int64_t h, int64_t c0, int64_t w, float *re, float *im, float *tr, float *ti) {
      const float *row = x + (b * a.h + h) * a.w * a.c;
      if (!half) {
        for (int64_t k = 0; k < a.w; ++k) std::memcpy(re + k * w, row + k * a.c + c0, w * sizeof(float));
        std::memset(im, 0, a.w * w * sizeof(float));
        fft_rows(along_w, w, re, im, tr, ti);
      } else {
        for (int64_t k = 0; k < half; ++k) {
          std::memcpy(re + k * w, row + 2 * k * a.c + c0, w * sizeof(float));
          std::memcpy(im + k * w, row + (2 * k + 1) * a.c + c0, w * sizeof(float));
        }
        fft_rows(along_w, w, re, im, tr, ti);  // Z = E + i O: E, O the transforms of the even, odd samples
      }
      for (int64_t l = 0; l < wr; ++l) {
        const float f = scale * (weighted ? twin_weight(l, a.w) : 1.f);
        float *dr = zr + (h * wr + l) * a.c + c0, *di = zi + (h * wr + l) * a.c + c0;
        if (!half) {
          const float *sr = re + l * w, *si = im + l * w;
#pragma omp simd
          for (int64_t i = 0; i < w; ++i) dr[i] = sr[i] * f, di[i] = si[i] * f;
          continue;
        }
        // E = (Z[l] + conj Z[W/2 - l]) / 2, O = (Z[l] - conj Z[W/2 - l]) / 2i, X = E + exp(-2 pi i l / W) O
        const int64_t k = l % half, kk = (half - l % half) % half;
        const float *ar = re + k * w, *ai = im + k * w, *br = re + kk * w, *bi = im + kk * w, c = along_w.real_cos[l], s = along_w.real_sin[l];
#pragma omp simd
        for (int64_t i = 0; i < w; ++i) {
          const float er = 0.5f * (ar[i] + br[i]), ei = 0.5f * (ai[i] - bi[i]);
          const float orr = 0.5f * (ai[i] + bi[i]), oi = -0.5f * (ar[i] - br[i]);
          dr[i] = (er + c * orr - s * oi) * f, di[i] = (ei + c * oi + s * orr) * f;
        }
      }
    });
    fft_columns(along_h, wr * a.c, wr * a.c, zr, zi, zr, zi);  // along H
  }
  return 0;
}

// re, im (B, H, Wr, C), like (..., W, any) -> y (B, H, W, C) = the real part of the
// inverse DFT of the modes l < Wr (the rest zero), each times twin_weight(l) if `weighted`
int spectrum_to_real(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, bool weighted) {
  Axes a;
  if (nparam != 4 || !all_float32(nparam, dtypes) || !token_axes(ndims[3], shapes[3], &a)) return 1;
  const float *in_re = static_cast<const float *>(params[0]), *in_im = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[3]);
  const int64_t wr = shapes[0][ndims[0] - 2], plane = a.h * wr * a.c;
  if (wr > a.w) return 1;
  // an even W (and no mode past W/2): the real output's even and odd samples as one complex row of W/2
  const int64_t half = a.w % 2 == 0 && wr <= a.w / 2 + 1 ? a.w / 2 : 0;
  const FftPlan &along_w = plan_for(half ? half : a.w, +1), &along_h = plan_for(a.h, +1);
  const float scale = static_cast<float>(1.0 / std::sqrt(double(a.h * a.w)));
  std::vector<float> zr(plane), zi(plane), zeros(std::min(a.c, kChunk));
  // the Hermitian spectrum V whose inverse is the real part of the one-sided sum: V[l] = f_l X_l / 2
  // for 0 < l < W/2, the real part of f_l X_l at l = 0 and W/2; gain and imaginary factor per mode
  std::vector<float> gain(half + 1), keep_im(half + 1);
  for (int64_t l = 0; l <= half; ++l) {
    const bool edge = l == 0 || l == half;
    gain[l] = l < wr ? scale * (weighted ? twin_weight(l, a.w) : 1.f) * (edge ? 1.f : 0.5f) : 0.f;
    keep_im[l] = edge ? 0.f : 1.f;
  }
  for (int64_t b = 0; b < a.b; ++b) {
    fft_columns(along_h, wr * a.c, wr * a.c, in_re + b * plane, in_im + b * plane, zr.data(), zi.data());  // along H
    // along W: the modes >= Wr zero, the real part kept
    for_row_chunks(a.h, a.c, a.w, [&](int64_t h, int64_t c0, int64_t w, float *re, float *im, float *tr, float *ti) {
      float *row = y + (b * a.h + h) * a.w * a.c;
      if (half) {
        // Z[k] = A + iB, A = V[k] + V[k + W/2], B = (V[k] - V[k + W/2]) exp(2 pi i k / W), V[k + W/2] = conj V[W/2 - k];
        // its inverse of length W/2 is x[2n] + i x[2n + 1]
        auto mode = [&](int64_t l, const float **r, const float **i) {
          *r = l < wr ? zr.data() + (h * wr + l) * a.c + c0 : zeros.data();
          *i = l < wr ? zi.data() + (h * wr + l) * a.c + c0 : zeros.data();
        };
        for (int64_t k = 0; k < half; ++k) {
          const float *vr, *vi, *ur, *ui;
          mode(k, &vr, &vi);
          mode(half - k, &ur, &ui);
          const float gv = gain[k], gvi = gain[k] * keep_im[k], gu = gain[half - k], gui = gain[half - k] * keep_im[half - k];
          const float c = along_w.real_cos[k], s = along_w.real_sin[k];
          float *dr = re + k * w, *di = im + k * w;
#pragma omp simd
          for (int64_t i = 0; i < w; ++i) {
            const float ar = vr[i] * gv + ur[i] * gu, ai = vi[i] * gvi - ui[i] * gui;
            const float er = vr[i] * gv - ur[i] * gu, ei = vi[i] * gvi + ui[i] * gui;
            const float br = er * c - ei * s, bi = er * s + ei * c;
            dr[i] = ar - bi, di[i] = ai + br;
          }
        }
        fft_rows(along_w, w, re, im, tr, ti);
        for (int64_t n = 0; n < half; ++n) {
          std::memcpy(row + 2 * n * a.c + c0, re + n * w, w * sizeof(float));
          std::memcpy(row + (2 * n + 1) * a.c + c0, im + n * w, w * sizeof(float));
        }
        return;
      }
      std::memset(re, 0, a.w * w * sizeof(float));
      std::memset(im, 0, a.w * w * sizeof(float));
      for (int64_t l = 0; l < wr; ++l) {
        const float f = scale * (weighted ? twin_weight(l, a.w) : 1.f);
        const float *sr = zr.data() + (h * wr + l) * a.c + c0, *si = zi.data() + (h * wr + l) * a.c + c0;
        float *dr = re + l * w, *di = im + l * w;
#pragma omp simd
        for (int64_t i = 0; i < w; ++i) dr[i] = sr[i] * f, di[i] = si[i] * f;
      }
      fft_rows(along_w, w, re, im, tr, ti);
      for (int64_t k = 0; k < a.w; ++k) std::memcpy(row + k * a.c + c0, re + k * w, w * sizeof(float));
    });
  }
  return 0;
}

}  // namespace

// x (B, H, W, C) or (B, N, C) -> re, im of its rfft2 (rfft), ortho
extern "C" int earthzoo_rfft(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return real_to_spectrum(nparam, params, ndims, shapes, dtypes, false);
}

// x, like (Wr, any) -> re, im of its rfft2 (rfft), the first Wr modes only (FourCastNet's filter keeps those)
extern "C" int earthzoo_rfft_modes(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return nparam == 4 ? real_to_spectrum(nparam, params, ndims, shapes, dtypes, false) : 1;
}

// irfft's gradient: dy, re -> the weighted rfft of dy (the one-sided modes count twice but
// the ends), as many modes as re has
extern "C" int earthzoo_irfft_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return real_to_spectrum(nparam, params, ndims, shapes, dtypes, true);
}

// re, im, like -> irfft2 (irfft) to like's transform length, ortho (as torch: c2c along H, c2r along W)
extern "C" int earthzoo_irfft(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return spectrum_to_real(nparam, params, ndims, shapes, dtypes, true);
}

// rfft's gradient: d re, d im, x -> dx, the unweighted inverse
extern "C" int earthzoo_rfft_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return spectrum_to_real(nparam, params, ndims, shapes, dtypes, false);
}

#ifdef EARTHZOO_DNNL
// ---- the linear layer and the AFNO mixing's complex matmul on oneDNN's sgemm (the libdnnl MindSpore ships) ----
// MindSpore's CPU MatMul takes 1.4-1.7x torch's time on the models' layer shapes;
// oneDNN's row-major sgemm matches torch's. MindSpore builds oneDNN with the threadpool
// runtime: the sgemm runs on the pool it is given, SleepingPool.
extern "C" int dnnl_threadpool_interop_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                                             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, void *threadpool);

namespace {
int dnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
               int64_t ldb, float beta, float *c, int64_t ldc) {
  dnnl::threadpool_interop::threadpool_iface *iface = &pool();
  return dnnl_threadpool_interop_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, iface);
}
}  // namespace

// x (M, K), weight (N, K), bias (N)[, residual (M, N)] -> y (M, N) = x weight^T + bias[ + residual]:
// a residual connection's sum in the product's output, not one more pass over memory
namespace {
int linear(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!all_float32(nparam, dtypes) || ndims[0] != 2 || ndims[1] != 2) return 1;
  const float *x = static_cast<const float *>(params[0]), *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]), *res = nparam == 5 ? static_cast<const float *>(params[3]) : nullptr;
  float *y = static_cast<float *>(params[nparam - 1]);
  const int64_t m = shapes[0][0], k = shapes[0][1], n = shapes[1][0];
  for (int64_t r = 0; r < m; ++r) {
    float *row = y + r * n;
    if (!res) {
      std::memcpy(row, b, n * sizeof(float));
      continue;
    }
    const float *rr = res + r * n;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) row[c] = rr[c] + b[c];
  }
  return dnnl_sgemm('N', 'T', m, n, k, 1.f, x, k, w, k, 1.f, y, n) == 0 ? 0 : 2;
}
}  // namespace

// two names: MindSpore keeps one shape function per kernel name
extern "C" int earthzoo_linear(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return nparam == 4 ? linear(nparam, params, ndims, shapes, dtypes) : 1;
}
extern "C" int earthzoo_linear_residual(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return nparam == 5 ? linear(nparam, params, ndims, shapes, dtypes) : 1;
}

// dy (M, N), x (M, K), weight (N, K) -> dx (M, K) = dy weight, dweight (N, K) = dy^T x, dbias (N)
extern "C" int earthzoo_linear_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 6 || !all_float32(nparam, dtypes)) return 1;
  const float *dy = static_cast<const float *>(params[0]), *x = static_cast<const float *>(params[1]);
  const float *w = static_cast<const float *>(params[2]);
  float *dx = static_cast<float *>(params[3]), *dw = static_cast<float *>(params[4]), *db = static_cast<float *>(params[5]);
  const int64_t m = shapes[1][0], k = shapes[1][1], n = shapes[2][0];
  if (dnnl_sgemm('N', 'N', m, k, n, 1.f, dy, n, w, k, 0.f, dx, k) != 0) return 2;
  if (dnnl_sgemm('T', 'N', n, k, m, 1.f, dy, n, x, k, 0.f, dw, k) != 0) return 2;
  sum_rows(dy, m, n, db);
  return 0;
}

// The AFNO mixing's block-diagonal complex matmul and its activation, modes first: per
// block k, with z = zr + i zi and w = wr + i wi,
//   yr = act(zr wr - zi wi + br),  yi = act(zr wi + zi wr + bi)
// on N modes. One kernel for what were a dozen graph ops (weight slices, negation,
// concatenations, transposes to and from blocks first, a batched matmul, the bias, the
// activation); a block per thread, each product too small to share. The real and
// imaginary halves are either two tensors (N, NB, I) or one (N, NB, 2I) holding
// [re, im] per block: the mixing's first layer takes the FFT's two, its second gives
// the inverse FFT two, and the hidden layer between them is one.
namespace {
enum Activation { kRelu = 0, kSoftshrink = 1 };

float activate(float x, int act, float lambd) {
  if (act == kRelu) return x > 0.f ? x : 0.f;
  return x > lambd ? x - lambd : (x < -lambd ? x + lambd : 0.f);
}

// block k's real and imaginary halves in a (N, NB, width) layout: one tensor holds both
// (the imaginary `half` columns after the real), or two tensors hold one each
struct Halves {
  float *re, *im;
  int64_t ld, block;
  Halves(void *re_, void *im_, int64_t nb, int64_t half)
      : re(static_cast<float *>(re_)), im(im_ ? static_cast<float *>(im_) : re + half), ld(nb * (im_ ? half : 2 * half)), block(im_ ? half : 2 * half) {}
  float *r(int64_t k) const { return re + k * block; }
  float *i(int64_t k) const { return im + k * block; }
};

int mix_layer(const Halves &z, const float *w, const float *b, const float *act, const Halves &y, int64_t n, int64_t nb, int64_t i, int64_t o) {
  const int kind = static_cast<int>(act[0]);
  const float lambd = act[1];
  std::atomic<int> failed{0};
  parallel_range(nb, 4 * i * o * n, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const float *wr = w + k * i * o, *wi = w + (nb + k) * i * o, *br = b + k * o, *bi = b + (nb + k) * o;
      float *yr = y.r(k), *yi = y.i(k);
      for (int64_t m = 0; m < n; ++m) std::memcpy(yr + m * y.ld, br, o * sizeof(float)), std::memcpy(yi + m * y.ld, bi, o * sizeof(float));
      const float *zr = z.r(k), *zi = z.i(k);
      int bad = dnnl_sgemm('N', 'N', n, o, i, 1.f, zr, z.ld, wr, o, 1.f, yr, y.ld);
      bad |= dnnl_sgemm('N', 'N', n, o, i, -1.f, zi, z.ld, wi, o, 1.f, yr, y.ld);
      bad |= dnnl_sgemm('N', 'N', n, o, i, 1.f, zr, z.ld, wi, o, 1.f, yi, y.ld);
      bad |= dnnl_sgemm('N', 'N', n, o, i, 1.f, zi, z.ld, wr, o, 1.f, yi, y.ld);
      if (bad) failed = 1;
      for (int64_t m = 0; m < n; ++m)
        for (int64_t c = 0; c < o; ++c) yr[m * y.ld + c] = activate(yr[m * y.ld + c], kind, lambd), yi[m * y.ld + c] = activate(yi[m * y.ld + c], kind, lambd);
    }
  });
  return failed ? 2 : 0;
}

// the gradient, from dy and the output y (relu's and softshrink's gradient is 1 where
// the output is not zero): g = dy there, dz = g conj-transposed through w, dw, db
int mix_layer_grad(const Halves &dy, const Halves &z, const float *w, const Halves &y, const Halves &dz, float *dw, float *db, int64_t n, int64_t nb,
                   int64_t i, int64_t o) {
  std::atomic<int> failed{0};
  parallel_range(nb, 8 * i * o * n, [&](int64_t k0, int64_t k1) {
    std::vector<float> g(n * 2 * o);
    for (int64_t k = k0; k < k1; ++k) {
      const float *dyr = dy.r(k), *dyi = dy.i(k), *yr = y.r(k), *yi = y.i(k);
      float *gr = g.data(), *gi = g.data() + o;  // (n, 2o): the real then the imaginary half
      for (int64_t m = 0; m < n; ++m)
        for (int64_t c = 0; c < o; ++c) {
          gr[m * 2 * o + c] = yr[m * y.ld + c] != 0.f ? dyr[m * dy.ld + c] : 0.f;
          gi[m * 2 * o + c] = yi[m * y.ld + c] != 0.f ? dyi[m * dy.ld + c] : 0.f;
        }
      const float *wr = w + k * i * o, *wi = w + (nb + k) * i * o, *zr = z.r(k), *zi = z.i(k);
      float *dwr = dw + k * i * o, *dwi = dw + (nb + k) * i * o, *dzr = dz.r(k), *dzi = dz.i(k);
      int bad = dnnl_sgemm('N', 'T', n, i, o, 1.f, gr, 2 * o, wr, o, 0.f, dzr, dz.ld);  // dzr = gr wr^T + gi wi^T
      bad |= dnnl_sgemm('N', 'T', n, i, o, 1.f, gi, 2 * o, wi, o, 1.f, dzr, dz.ld);
      bad |= dnnl_sgemm('N', 'T', n, i, o, 1.f, gi, 2 * o, wr, o, 0.f, dzi, dz.ld);  // dzi = gi wr^T - gr wi^T
      bad |= dnnl_sgemm('N', 'T', n, i, o, -1.f, gr, 2 * o, wi, o, 1.f, dzi, dz.ld);
      bad |= dnnl_sgemm('T', 'N', i, o, n, 1.f, zr, z.ld, gr, 2 * o, 0.f, dwr, o);  // dwr = zr^T gr + zi^T gi
      bad |= dnnl_sgemm('T', 'N', i, o, n, 1.f, zi, z.ld, gi, 2 * o, 1.f, dwr, o);
      bad |= dnnl_sgemm('T', 'N', i, o, n, 1.f, zr, z.ld, gi, 2 * o, 0.f, dwi, o);  // dwi = zr^T gi - zi^T gr
      bad |= dnnl_sgemm('T', 'N', i, o, n, -1.f, zi, z.ld, gr, 2 * o, 1.f, dwi, o);
      if (bad) failed = 1;
      for (int64_t c = 0; c < 2 * o; ++c) {
        float sum = 0.f;
        for (int64_t m = 0; m < n; ++m) sum += g[m * 2 * o + c];
        db[((c / o) * nb + k) * o + c % o] = sum;
      }
    }
  });
  return failed ? 2 : 0;
}
}  // namespace

// The layers keep the modes' own leading shape (..., a token grid's modes): N is its size,
// and no reshape stands between the FFT kernels and these.

// re, im (..., NB * I), w (2, NB, I, O), b (2, NB, O), act [kind, lambda] -> y (..., NB, 2O)
extern "C" int earthzoo_complex_linear_split_in(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 6 || !all_float32(nparam, dtypes) || ndims[2] != 4) return 1;
  const int64_t nb = shapes[2][1], i = shapes[2][2], o = shapes[2][3], n = elements(ndims[0], shapes[0]) / (nb * i);
  if (shapes[0][ndims[0] - 1] != nb * i) return 1;
  return mix_layer(Halves(params[0], params[1], nb, i), static_cast<const float *>(params[2]), static_cast<const float *>(params[3]),
                   static_cast<const float *>(params[4]), Halves(params[5], nullptr, nb, o), n, nb, i, o);
}

// z (..., NB, 2I), w, b, act -> yr, yi (..., NB * O)
extern "C" int earthzoo_complex_linear_split_out(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 6 || !all_float32(nparam, dtypes) || ndims[0] < 2 || ndims[1] != 4) return 1;
  const int64_t nb = shapes[1][1], i = shapes[1][2], o = shapes[1][3], n = elements(ndims[0], shapes[0]) / (nb * 2 * i);
  if (shapes[0][ndims[0] - 2] != nb || shapes[0][ndims[0] - 1] != 2 * i) return 1;
  return mix_layer(Halves(params[0], nullptr, nb, i), static_cast<const float *>(params[1]), static_cast<const float *>(params[2]),
                   static_cast<const float *>(params[3]), Halves(params[4], params[5], nb, o), n, nb, i, o);
}

// dy (..., NB, 2O), re, im, w, y -> dre, dim (..., NB * I), dw (2, NB, I, O), db (2, NB, O)
extern "C" int earthzoo_complex_linear_split_in_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 9 || !all_float32(nparam, dtypes) || ndims[3] != 4) return 1;
  const int64_t nb = shapes[3][1], i = shapes[3][2], o = shapes[3][3], n = elements(ndims[1], shapes[1]) / (nb * i);
  return mix_layer_grad(Halves(params[0], nullptr, nb, o), Halves(params[1], params[2], nb, i), static_cast<const float *>(params[3]),
                        Halves(params[4], nullptr, nb, o), Halves(params[5], params[6], nb, i), static_cast<float *>(params[7]),
                        static_cast<float *>(params[8]), n, nb, i, o);
}

// dyr, dyi (..., NB * O), z (..., NB, 2I), w, yr, yi -> dz (..., NB, 2I), dw, db
extern "C" int earthzoo_complex_linear_split_out_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  if (nparam != 9 || !all_float32(nparam, dtypes) || ndims[3] != 4) return 1;
  const int64_t nb = shapes[3][1], i = shapes[3][2], o = shapes[3][3], n = elements(ndims[2], shapes[2]) / (nb * 2 * i);
  return mix_layer_grad(Halves(params[0], params[1], nb, o), Halves(params[2], nullptr, nb, i), static_cast<const float *>(params[3]),
                        Halves(params[4], params[5], nb, o), Halves(params[6], nullptr, nb, i), static_cast<float *>(params[7]),
                        static_cast<float *>(params[8]), n, nb, i, o);
}
#endif
