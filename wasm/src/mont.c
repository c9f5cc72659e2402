/*
 * Montgomery contexts (cached per modulus), number layout, conversions.
 */
#include <wasm_simd128.h>

#include "mpc_math.h"

/* Kernel instances: W in {29, 30} (mont_core.h note 5) x FRIENDLY in {0, 1} (note 7). */
#define W 29
#define FRIENDLY 0
#include "mont_core.h"
#undef FRIENDLY
#define FRIENDLY 1
#include "mont_core.h"
#undef FRIENDLY
#undef W
#define W 30
#define FRIENDLY 0
#include "mont_core.h"
#undef FRIENDLY
#define FRIENDLY 1
#include "mont_core.h"
#undef FRIENDLY
#undef W


/* ---- numbers -------------------------------------------------------------------------------- */

/* One array: PAD zeros, n limbs, PAD zeros. A number is three arrays (f, r, d) back to back. */
static u32 arr_stride(u32 n) { return n + 2u * PAD; }
u32 num_stride(const ctx_t *c) { return 3u * arr_stride(c->n); }

static void num_bind(u32 n, num_t *x, u32 *base) {
  x->f = base + PAD;
  x->r = base + arr_stride(n) + PAD;
  x->d = base + 2u * arr_stride(n) + PAD;
}

int num_alloc(const ctx_t *c, num_t *x) {
  u32 *base = (u32 *)scratch_alloc(num_stride(c) * 4u);
  if (!base) return 0;
  num_bind(c->n, x, base);
  return 1;
}

void num_copy(const ctx_t *c, num_t *dst, const num_t *src) {
  u32 n = c->n;
  __builtin_memcpy(dst->f, src->f, n * 4u);
  __builtin_memcpy(dst->r, src->r, n * 4u);
  __builtin_memcpy(dst->d, src->d, n * 4u);
}

void num_refresh(const ctx_t *c, num_t *x) {
  u32 n = c->n;
  for (u32 i = 0; i < n; i++) {
    u32 v = x->f[i];
    x->r[n - 1 - i] = v;
    x->d[n - 1 - i] = v << 1;
  }
}

/* ---- plain (non-Montgomery) helpers on normalized limb arrays, variable time: public data only -- */

static int ge(const u32 *a, const u32 *b, u32 n) {
  for (u32 i = n; i-- > 0;) {
    if (a[i] != b[i]) return a[i] > b[i];
  }
  return 1;
}

static void sub_in_place(u32 *a, const u32 *b, u32 n, u32 w) {
  u32 mask = (1u << w) - 1u;
  u32 borrow = 0;
  for (u32 i = 0; i < n; i++) {
    u32 v = a[i] - b[i] - borrow; /* limbs < 2^30, so the sign lands in bit 31 */
    borrow = v >> 31;
    a[i] = v & mask;
  }
}

/* a = 2a mod m for a < m */
static void dbl_mod(u32 *a, const u32 *m, u32 n, u32 w) {
  u32 mask = (1u << w) - 1u, carry = 0;
  for (u32 i = 0; i < n; i++) {
    u32 v = (a[i] << 1) | carry;
    carry = v >> w;
    a[i] = v & mask;
  }
  /* 2a < 2m <= R/2, so no carry leaves limb n-1 */
  if (ge(a, m, n)) sub_in_place(a, m, n, w);
}

/* ---- contexts ---------------------------------------------------------------------------------- */

/* Moduli in use at once: per party N, N^2 and the ring-Pedersen modulus, for every party of a
 * session, plus CRT halves; 16 covers n = 3 with room. Least recently used slot is rebuilt. */
#define CTX_SLOTS 16u
static ctx_t ctx_pool[CTX_SLOTS];
#define CTX_NUMS 5u
__attribute__((aligned(16))) static u32 ctx_storage[CTX_SLOTS][CTX_NUMS * 3u * (MAX_LIMBS + 2u * PAD)];
static u32 ctx_clock;

/*
 * Limb width: W = 30 when it saves limbs (1536 bits: 52 limbs instead of 56, 3072: 104 instead of
 * 108; measured -7% and -2% per squaring), else W = 29. W = 30 leaves room for only 16 products
 * per lane, so its loops normalize every 7 steps (3 for the doubled operand); that overhead eats
 * the gain where the limb count does not drop. R = 2^(W n) >= 4m needs W n >= bits + 2; n is a
 * multiple of 4 (column groups).
 */
static u32 force_w;

/* Test hook: force W = 29 or 30 for contexts created afterwards (0 = automatic). */
EXPORT(force_width) void mpc_force_width(u32 w) { force_w = w; }

static void pick_width(u32 bits, u32 *w, u32 *n) {
  u32 n29 = ((bits + 2u + 28u) / 29u + 3u) & ~3u;
  u32 n30 = ((bits + 2u + 29u) / 30u + 3u) & ~3u;
  if (n29 < 4u) n29 = 4u;
  if (n30 < 4u) n30 = 4u;
  if (force_w == 30u || (force_w == 0u && n30 < n29)) {
    *w = 30u;
    *n = n30;
  } else {
    *w = 29u;
    *n = n29;
  }
}

static void limbs_from_be(const u8 *be, u32 len, u32 *f, u32 n, u32 w, u32 *overflow) {
  u32 mask = (1u << w) - 1u;
  u64 acc = 0;
  u32 nb = 0, idx = 0;
  *overflow = 0;
  for (u32 i = len; i-- > 0;) {
    acc |= (u64)be[i] << nb;
    nb += 8u;
    while (nb >= w) {
      if (idx < n) f[idx++] = (u32)acc & mask;
      else *overflow |= (u32)acc & mask;
      acc >>= w;
      nb -= w;
    }
  }
  if (nb > 0) {
    if (idx < n) f[idx++] = (u32)acc;
    else *overflow |= (u32)acc;
  }
  while (idx < n) f[idx++] = 0;
}

void num_to_bytes(const ctx_t *c, const u32 *f, u8 *be, u32 len) {
  u64 acc = 0;
  u32 nb = 0, idx = 0, w = c->w, n = c->n;
  for (u32 i = len; i-- > 0;) {
    while (nb < 8u) {
      u64 limb = idx < n ? f[idx] : 0;
      idx++;
      acc |= limb << nb;
      nb += w;
    }
    be[i] = (u8)acc;
    acc >>= 8;
    nb -= 8u;
  }
}

int num_from_bytes(const ctx_t *c, num_t *x, const u8 *be, u32 len) {
  u32 overflow;
  limbs_from_be(be, len, x->f, c->n, c->w, &overflow);
  num_refresh(c, x);
  return overflow == 0;
}

static void ctx_mul_raw(const ctx_t *c, num_t *out, const num_t *a, const num_t *b, u32 *q) {
  c->mul(out->f, out->r, out->d, a->f, b->r, c->mm.f, c->mm.r, q, c->n, c->minv);
}

/*
 * Aliasing: out may be a or b. Output limbs j..j+3 are written by the group of columns n+j..n+j+3,
 * after which the remaining groups read only a.f[i] for i > j+3 and b.r / b.d at indices below
 * 2n-4-(n+j) = n-4-j, i.e. never a limb that was already overwritten.
 */
void mont_mul(const ctx_t *c, num_t *out, const num_t *a, const num_t *b, u32 *q) {
  ctx_mul_raw(c, out, a, b, q);
}

void mont_sqr(const ctx_t *c, num_t *out, const num_t *a, u32 *q) {
  c->sqr(out->f, out->r, out->d, a->f, a->d, c->mm.f, c->mm.r, q, c->n, c->minv);
}

void to_mont(const ctx_t *c, num_t *out, const num_t *x, u32 *q) { mont_mul(c, out, x, &c->r2, q); }

/*
 * Leave Montgomery form: REDC_m(x * 1) = x R^-1 mod m with the plain kernel for the true modulus m
 * (x is a residue mod mm, a multiple of m, so it is also one mod m). Since x < 2mm <= R/2 the
 * result is <= m ((x + q m) / R < 1 + m). One conditional subtraction, done with masks so the
 * constant-time paths can use it.
 */
void from_mont_ct(const ctx_t *c, u32 *outf, const num_t *x, u32 *q, num_t *tmp) {
  u32 n = c->n, w = c->w, mask = (1u << w) - 1u;
  /* the plain integer 1 as a right operand: only its reversed limbs are read */
  for (u32 i = 0; i < n; i++) tmp->r[i] = 0;
  tmp->r[n - 1] = 1;
  c->mul_m(outf, tmp->f, tmp->d, x->f, tmp->r, c->m.f, c->m.r, q, n, c->minv_m);
  /* outf = y <= m. diff = y - m; keep y if the subtraction borrowed (y < m) */
  u32 borrow = 0;
  for (u32 i = 0; i < n; i++) {
    u32 v = outf[i] - c->m.f[i] - borrow; /* limbs < 2^30: the borrow lands in bit 31 */
    borrow = v >> 31;
    tmp->f[i] = v & mask;
  }
  u32 keep = 0u - borrow;
  for (u32 i = 0; i < n; i++) outf[i] = (outf[i] & keep) | (tmp->f[i] & ~keep);
}

static u32 limbs_bits(const u32 *f, u32 n, u32 w) {
  for (u32 i = n; i-- > 0;) {
    if (f[i]) return i * w + (32u - (u32)__builtin_clz(f[i]));
  }
  return 0;
}

/* x = R mod m = 2^(w n) mod m: start from 2^(bits(m)-1) < m and double. */
static void r_mod(u32 *x, const u32 *m, u32 n, u32 w) {
  u32 mb = limbs_bits(m, n, w);
  for (u32 i = 0; i < n; i++) x[i] = 0;
  x[(mb - 1u) / w] = 1u << ((mb - 1u) % w);
  for (u32 i = mb - 1u; i < w * n; i++) dbl_mod(x, m, n, w);
}

static u32 neg_inv(u32 m0, u32 w) {
  /* -m^-1 mod 2^w by Newton iteration (each step doubles the correct low bits: 1 -> 2 -> ... 32) */
  u32 inv = 1;
  for (int i = 0; i < 5; i++) inv *= 2u - m0 * inv;
  return (0u - inv) & ((1u << w) - 1u);
}

static void ctx_init(ctx_t *c, u32 slot, const u8 *mod, u32 mlen, u32 bits) {
  u32 w, n;
  pick_width(bits, &w, &n);
  c->w = w;
  c->n = n;
  c->bits = bits;
  c->mlen = mlen;
  __builtin_memcpy(c->key, mod, mlen);
  u32 *st = ctx_storage[slot];
  __builtin_memset(st, 0, sizeof(ctx_storage[slot]));
  u32 stride = num_stride(c);
  num_bind(n, &c->m, st);
  num_bind(n, &c->mm, st + stride);
  num_bind(n, &c->one, st + 2u * stride);
  num_bind(n, &c->r2, st + 3u * stride);
  num_bind(n, &c->rm, st + 4u * stride);
  u32 overflow, mask = (1u << w) - 1u;
  limbs_from_be(mod, mlen, c->m.f, n, w, &overflow);
  num_refresh(c, &c->m);
  c->minv_m = neg_inv(c->m.f[0], w);
  c->mul_m = w == 30u ? mont_mul_w30 : mont_mul_w29;

  /* Working modulus mm = k m with k = -m^-1 mod 2^w, so mm = -1 mod 2^w, if it still satisfies
   * 4 mm <= R in the same n limbs (note 7 in mont_core.h); else mm = m. */
  {
    u64 k = c->minv_m, carry = 0;
    for (u32 i = 0; i < n; i++) {
      u64 v = (u64)c->m.f[i] * k + carry;
      c->mm.f[i] = (u32)v & mask;
      carry = v >> w;
    }
    c->friendly = carry == 0 && limbs_bits(c->mm.f, n, w) + 2u <= w * n;
  }
  if (c->friendly) {
    c->minv = 1;
    c->mul = w == 30u ? mont_mul_w30f : mont_mul_w29f;
    c->sqr = w == 30u ? mont_sqr_w30f : mont_sqr_w29f;
  } else {
    __builtin_memcpy(c->mm.f, c->m.f, n * 4u);
    c->minv = c->minv_m;
    c->mul = c->mul_m;
    c->sqr = w == 30u ? mont_sqr_w30 : mont_sqr_w29;
  }
  num_refresh(c, &c->mm);

  /* R mod m (for mul_mod) and R mod mm (Montgomery 1) */
  r_mod(c->rm.f, c->m.f, n, w);
  num_refresh(c, &c->rm);
  r_mod(c->one.f, c->mm.f, n, w);
  num_refresh(c, &c->one);

  /* R^2 mod mm = R * 2^(w n): walk the bits of e = w n from the top, keeping y = R * 2^j mod mm;
   * a Montgomery squaring maps j -> 2j, a modular doubling j -> j + 1. ~12 squarings. */
  num_t *y = &c->r2;
  __builtin_memcpy(y->f, c->one.f, n * 4u);
  dbl_mod(y->f, c->mm.f, n, w); /* j = 1 */
  num_refresh(c, y);
  u32 e = w * n, top = 31u - (u32)__builtin_clz(e);
  u32 q[MAX_LIMBS + 8u];
  for (u32 b = top; b-- > 0;) {
    mont_sqr(c, y, y, q);
    if (ge(y->f, c->mm.f, n)) sub_in_place(y->f, c->mm.f, n, w);
    if ((e >> b) & 1u) dbl_mod(y->f, c->mm.f, n, w);
    num_refresh(c, y);
  }
}

static u32 bit_length(const u8 *be, u32 len, u32 *lead) {
  u32 i = 0;
  while (i < len && be[i] == 0) i++;
  *lead = i;
  if (i == len) return 0;
  return (len - i - 1u) * 8u + (32u - (u32)__builtin_clz(be[i]));
}

static int bytes_equal(const u8 *a, const u8 *b, u32 len) {
  for (u32 i = 0; i < len; i++) {
    if (a[i] != b[i]) return 0;
  }
  return 1;
}

/* Find or build the context for modulus `mod` (big-endian, may have leading zero bytes). */
const ctx_t *ctx_get(const u8 *mod, u32 mlen, int *err) {
  u32 lead;
  u32 bits = bit_length(mod, mlen, &lead);
  *err = MPC_OK;
  if (bits < 2u || bits > MAX_MOD_BYTES * 8u || (mod[mlen - 1u] & 1u) == 0) {
    *err = MPC_ERR_ARGS;
    return 0;
  }
  mod += lead;
  mlen -= lead;
  ctx_clock++;
  ctx_t *victim = &ctx_pool[0];
  for (u32 s = 0; s < CTX_SLOTS; s++) {
    ctx_t *c = &ctx_pool[s];
    if (c->used && c->mlen == mlen && bytes_equal(c->key, mod, mlen)) {
      c->stamp = ctx_clock;
      return c;
    }
    if (!c->used || (victim->used && c->stamp < victim->stamp)) victim = c;
  }
  u32 slot = (u32)(victim - ctx_pool);
  victim->used = 0;
  ctx_init(victim, slot, mod, mlen, bits);
  victim->used = 1;
  victim->stamp = ctx_clock;
  return victim;
}

/* Forget cached moduli (dispose). */
EXPORT(clear_cache) void mpc_clear_cache(void) {
  __builtin_memset(ctx_pool, 0, sizeof(ctx_pool));
  __builtin_memset(ctx_storage, 0, sizeof(ctx_storage));
}

#ifdef MPC_BENCH
/* Development-only kernel timing hooks (not in the shipped build). */
EXPORT(bench_kernel)
u32 mpc_bench_kernel(const u8 *mod, u32 mlen, u32 iters, u32 which) {
  int err;
  uptr mark = scratch_mark();
  const ctx_t *c = ctx_get(mod, mlen, &err);
  if (!c) return 1;
  num_t a, b;
  u32 *q = (u32 *)scratch_alloc((c->n + 8u) * 4u);
  num_alloc(c, &a);
  num_alloc(c, &b);
  num_copy(c, &a, &c->r2);
  num_copy(c, &b, &c->one);
  for (u32 i = 0; i < iters; i++) {
    if (which) mont_mul(c, &a, &a, &b, q);
    else mont_sqr(c, &a, &a, q);
  }
  scratch_release(mark, 0);
  return a.f[0];
}
#endif
