/*
 * Exported operations: powm (public exponent), powm_sec (constant time), multi_exp (public),
 * multi_exp_sec (constant time), mul_mod (odd modulus).
 *
 * Calling convention (all pointers into linear memory, big-endian byte strings):
 *   out and every base are mlen bytes; every exponent is elen bytes; mod is mlen bytes, odd, >= 3.
 *   Bases must be < mod (the TypeScript shell reduces them). Return 0 on success, MPC_ERR_* else.
 */
#include <wasm_simd128.h>

#include "mpc_math.h"

static u32 ebit(const u8 *e, u32 elen, u32 i) {
  /* i is a public position; only the returned value depends on the exponent */
  return i < elen * 8u ? (u32)(e[elen - 1u - (i >> 3)] >> (i & 7u)) & 1u : 0u;
}

static u32 exp_bits(const u8 *e, u32 elen) {
  u32 i = 0;
  while (i < elen && e[i] == 0) i++;
  if (i == elen) return 0;
  return (elen - i - 1u) * 8u + (32u - (u32)__builtin_clz(e[i]));
}

/* Sliding window width for a public exponent: minimizes table (2^(w-1) products) plus the
 * expected ebits/(w+1) window products. 3072-bit exponent -> 7 (64 + 384 products). */
static u32 window_public(u32 ebits) {
  u32 best = 1, best_cost = ebits / 2u + 1u;
  for (u32 w = 2; w <= 7; w++) {
    u32 cost = (1u << (w - 1u)) + ebits / (w + 1u);
    if (cost < best_cost) {
      best = w;
      best_cost = cost;
    }
  }
  return best;
}

/* Fixed window width for the constant-time paths: table 2^w products per base plus nb/w window
 * products, each preceded by a scan of all 2^w table entries (cost ~ entry/(1.6 n) of a product).
 * Memory for the tables is capped at 8 MiB. Costs in units of 1/1024 product. */
static u32 window_secret(u32 nb, u32 k, u32 n) {
  u32 best = 1;
  u64 best_cost = ~0ull;
  for (u32 w = 1; w <= 6; w++) {
    u64 entries = 1ull << w;
    if (w > 1 && (u64)k * entries * (n + 2u * PAD) * 4u > (8ull << 20)) break;
    u64 windows = (nb + w - 1u) / w;
    u64 cost = (u64)k * ((entries - 1u) * 1024u + windows * (1024u + entries * 640u / n));
    if (cost < best_cost) {
      best = w;
      best_cost = cost;
    }
  }
  return best;
}

/* f < 2m -> f mod m, with masks (constant time) */
static void reduce_once_ct(const ctx_t *c, u32 *f, u32 *tmp) {
  u32 n = c->n, mask = (1u << c->w) - 1u, borrow = 0;
  for (u32 i = 0; i < n; i++) {
    u32 v = f[i] - c->m.f[i] - borrow;
    borrow = v >> 31;
    tmp[i] = v & mask;
  }
  u32 keep = 0u - borrow;
  for (u32 i = 0; i < n; i++) f[i] = (f[i] & keep) | (tmp[i] & ~keep);
}

typedef struct {
  const ctx_t *c;
  uptr mark;
  u32 *q;
  num_t tmp;
} op_t;

static int op_begin(op_t *op, const u8 *mod, u32 mlen, int *err) {
  op->mark = scratch_mark();
  op->c = ctx_get(mod, mlen, err);
  if (!op->c) return 0;
  op->q = (u32 *)scratch_alloc((op->c->n + 8u) * 4u);
  if (!op->q || !num_alloc(op->c, &op->tmp)) {
    *err = MPC_ERR_NOMEM;
    return 0;
  }
  return 1;
}

static u32 op_end(op_t *op, int wipe, u32 status) {
  scratch_release(op->mark, wipe);
  return status;
}

/* ---- powm: public exponent, left-to-right sliding window ---------------------------------------- */

EXPORT(powm)
u32 mpc_powm(u8 *out, const u8 *base, const u8 *exp, u32 elen, const u8 *mod, u32 mlen) {
  op_t op;
  int err;
  if (!op_begin(&op, mod, mlen, &err)) return op_end(&op, 0, (u32)err);
  const ctx_t *c = op.c;
  num_t x, acc, res;
  if (!num_alloc(c, &x) || !num_alloc(c, &acc) || !num_alloc(c, &res)) return op_end(&op, 0, MPC_ERR_NOMEM);
  if (!num_from_bytes(c, &op.tmp, base, mlen)) return op_end(&op, 0, MPC_ERR_ARGS);
  to_mont(c, &x, &op.tmp, op.q);

  u32 eb = exp_bits(exp, elen);
  if (eb == 0) {
    num_copy(c, &acc, &c->one);
  } else {
    u32 w = window_public(eb), cnt = 1u << (w - 1u);
    num_t *T = (num_t *)scratch_alloc(cnt * sizeof(num_t));
    if (!T) return op_end(&op, 0, MPC_ERR_NOMEM);
    for (u32 i = 0; i < cnt; i++) {
      if (!num_alloc(c, &T[i])) return op_end(&op, 0, MPC_ERR_NOMEM);
    }
    /* T[i] = x^(2i+1) */
    num_copy(c, &T[0], &x);
    if (cnt > 1) {
      num_t x2;
      if (!num_alloc(c, &x2)) return op_end(&op, 0, MPC_ERR_NOMEM);
      mont_sqr(c, &x2, &x, op.q);
      for (u32 i = 1; i < cnt; i++) mont_mul(c, &T[i], &T[i - 1], &x2, op.q);
    }
    int started = 0;
    int i = (int)eb - 1;
    while (i >= 0) {
      if (!ebit(exp, elen, (u32)i)) {
        mont_sqr(c, &acc, &acc, op.q); /* started: the top bit is 1, so a window came first */
        i--;
        continue;
      }
      int j = i - (int)w + 1;
      if (j < 0) j = 0;
      while (!ebit(exp, elen, (u32)j)) j++;
      u32 val = 0;
      for (int b = i; b >= j; b--) val = (val << 1) | ebit(exp, elen, (u32)b);
      if (started) {
        for (int s = j; s <= i; s++) mont_sqr(c, &acc, &acc, op.q);
        mont_mul(c, &acc, &acc, &T[val >> 1], op.q);
      } else {
        num_copy(c, &acc, &T[val >> 1]);
        started = 1;
      }
      i = j - 1;
    }
  }
  from_mont_ct(c, res.f, &acc, op.q, &op.tmp);
  num_to_bytes(c, res.f, out, mlen);
  return op_end(&op, 0, MPC_OK);
}

/* ---- multi_exp: public exponents, interleaved sliding windows (shared squarings) --------------- */

typedef struct {
  u32 *T;   /* odd powers x^1, x^3, ... (reversed limbs only: table entries are right operands) */
  u32 *pos; /* low bit position of each window, descending */
  u32 *val; /* window value (odd) */
  u32 count, cur;
} term_t;

/* Table memory budget for multi_exp (reversed arrays only): windows shrink to stay under it. */
#define MULTI_TABLE_BUDGET (8u << 20)

EXPORT(multi_exp)
u32 mpc_multi_exp(u8 *out, u32 k, const u8 *bases, const u8 *exps, u32 elen, const u8 *mod, u32 mlen) {
  op_t op;
  int err;
  if (k == 0 || k > MAX_TERMS) return MPC_ERR_ARGS;
  if (!op_begin(&op, mod, mlen, &err)) return op_end(&op, 0, (u32)err);
  const ctx_t *c = op.c;
  const u32 n = c->n, astride = n + 2u * PAD;
  num_t x, x2, run, acc, res, sel;
  term_t *terms = (term_t *)scratch_alloc(k * sizeof(term_t));
  if (!terms || !num_alloc(c, &x) || !num_alloc(c, &x2) || !num_alloc(c, &run) || !num_alloc(c, &acc) ||
      !num_alloc(c, &res))
    return op_end(&op, 0, MPC_ERR_NOMEM);
  u32 maxb = 0;
  for (u32 t = 0; t < k; t++) {
    const u8 *e = exps + t * elen;
    term_t *tm = &terms[t];
    u32 eb = exp_bits(e, elen);
    tm->count = tm->cur = 0;
    if (eb == 0) continue;
    if (eb > maxb) maxb = eb;
    u32 w = window_public(eb);
    while (w > 1u && k * (1u << (w - 1u)) * astride * 4u > MULTI_TABLE_BUDGET) w--;
    u32 cnt = 1u << (w - 1u);
    tm->T = (u32 *)scratch_alloc(cnt * astride * 4u);
    tm->pos = (u32 *)scratch_alloc(eb * 4u);
    tm->val = (u32 *)scratch_alloc(eb * 4u);
    if (!tm->T || !tm->pos || !tm->val) return op_end(&op, 0, MPC_ERR_NOMEM);
    if (!num_from_bytes(c, &op.tmp, bases + t * mlen, mlen)) return op_end(&op, 0, MPC_ERR_ARGS);
    to_mont(c, &x, &op.tmp, op.q);
    __builtin_memcpy(tm->T + PAD, x.r, n * 4u);
    if (cnt > 1) {
      mont_sqr(c, &x2, &x, op.q);
      num_copy(c, &run, &x);
      for (u32 i = 1; i < cnt; i++) {
        mont_mul(c, &run, &run, &x2, op.q);
        __builtin_memcpy(tm->T + i * astride + PAD, run.r, n * 4u);
      }
    }
    /* sliding-window recoding from the top bit */
    int i = (int)eb - 1;
    while (i >= 0) {
      if (!ebit(e, elen, (u32)i)) {
        i--;
        continue;
      }
      int j = i - (int)w + 1;
      if (j < 0) j = 0;
      while (!ebit(e, elen, (u32)j)) j++;
      u32 v = 0;
      for (int b = i; b >= j; b--) v = (v << 1) | ebit(e, elen, (u32)b);
      tm->pos[tm->count] = (u32)j;
      tm->val[tm->count] = v;
      tm->count++;
      i = j - 1;
    }
  }
  /* acc starts at 1 (R mod m); squarings begin with the first window product */
  num_copy(c, &acc, &c->one);
  int started = 0;
  for (int p = (int)maxb - 1; p >= 0; p--) {
    if (started) mont_sqr(c, &acc, &acc, op.q);
    for (u32 t = 0; t < k; t++) {
      term_t *tm = &terms[t];
      if (tm->cur < tm->count && tm->pos[tm->cur] == (u32)p) {
        sel.r = tm->T + (tm->val[tm->cur] >> 1) * astride + PAD;
        mont_mul(c, &acc, &acc, &sel, op.q);
        started = 1;
        tm->cur++;
      }
    }
  }
  from_mont_ct(c, res.f, &acc, op.q, &op.tmp);
  num_to_bytes(c, res.f, out, mlen);
  return op_end(&op, 0, MPC_OK);
}

/* ---- constant time: fixed windows, full-table scans with masks --------------------------------- */

/*
 * Constant-time selection of table entry idx: every entry is read, and combined with an all-ones or
 * all-zeros mask, so neither the memory addresses touched nor any branch depend on idx.
 */
static void ct_select(u32 *dst, const u32 *table, u32 stride, u32 entries, u32 idx, u32 n) {
  u32 nv = n / 4u, v = 0;
  /* four vectors at a time, accumulators in registers, every entry scanned for each chunk */
  for (; v + 4u <= nv; v += 4u) {
    v128_t a0 = wasm_i32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    const u32 *e = table + 4u * v;
    for (u32 j = 0; j < entries; j++, e += stride) {
      u32 diff = j ^ idx;
      /* diff == 0 -> all ones, else 0: diff < 2^31, so (diff - 1) >> 31 is 1 exactly when diff == 0 */
      u32 m = 0u - ((diff - 1u) >> 31);
      __asm__("" : "+r"(m)); /* keep the compiler from turning the mask back into a branch */
      v128_t mv = wasm_i32x4_splat((int)m);
      a0 = wasm_v128_or(a0, wasm_v128_and(wasm_v128_load(e), mv));
      a1 = wasm_v128_or(a1, wasm_v128_and(wasm_v128_load(e + 4), mv));
      a2 = wasm_v128_or(a2, wasm_v128_and(wasm_v128_load(e + 8), mv));
      a3 = wasm_v128_or(a3, wasm_v128_and(wasm_v128_load(e + 12), mv));
    }
    wasm_v128_store(dst + 4u * v, a0);
    wasm_v128_store(dst + 4u * v + 4u, a1);
    wasm_v128_store(dst + 4u * v + 8u, a2);
    wasm_v128_store(dst + 4u * v + 12u, a3);
  }
  for (; v < nv; v++) {
    v128_t a0 = wasm_i32x4_splat(0);
    const u32 *e = table + 4u * v;
    for (u32 j = 0; j < entries; j++, e += stride) {
      u32 diff = j ^ idx;
      u32 m = 0u - ((diff - 1u) >> 31);
      __asm__("" : "+r"(m));
      a0 = wasm_v128_or(a0, wasm_v128_and(wasm_v128_load(e), wasm_i32x4_splat((int)m)));
    }
    wasm_v128_store(dst + 4u * v, a0);
  }
}

static u32 window_value(const u8 *e, u32 elen, u32 pos, u32 w) {
  u32 v = 0;
  for (u32 b = w; b-- > 0;) v = (v << 1) | ebit(e, elen, pos + b);
  return v;
}

/*
 * prod_i bases[i]^exps[i] with every exponent treated as exactly elen*8 bits (the caller pads to a
 * public size), interleaved: one shared chain of squarings, and per window and base one
 * constant-time table scan and one product. The sequence of operations depends only on
 * (k, elen, n), never on the exponent or base values.
 */
static u32 multi_exp_ct(u8 *out, u32 k, const u8 *bases, const u8 *exps, u32 elen, const u8 *mod, u32 mlen) {
  op_t op;
  int err;
  if (k == 0 || k > MAX_TERMS || elen == 0) return MPC_ERR_ARGS;
  if (!op_begin(&op, mod, mlen, &err)) return op_end(&op, 1, (u32)err);
  const ctx_t *c = op.c;
  u32 n = c->n, nb = elen * 8u;
  u32 w = window_secret(nb, k, n), entries = 1u << w, astride = n + 2u * PAD;
  num_t x, run, acc, sel, res;
  u32 *tables = (u32 *)scratch_alloc(k * entries * astride * 4u);
  if (!tables || !num_alloc(c, &x) || !num_alloc(c, &run) || !num_alloc(c, &acc) || !num_alloc(c, &sel) ||
      !num_alloc(c, &res))
    return op_end(&op, 1, MPC_ERR_NOMEM);
  /* table t, entry j (reversed limbs only: entries are only ever right operands) = x_t^j R mod m */
  for (u32 t = 0; t < k; t++) {
    u32 *tab = tables + t * entries * astride + PAD;
    if (!num_from_bytes(c, &op.tmp, bases + t * mlen, mlen)) return op_end(&op, 1, MPC_ERR_ARGS);
    to_mont(c, &x, &op.tmp, op.q);
    __builtin_memcpy(tab, c->one.r, n * 4u);
    if (entries > 1) __builtin_memcpy(tab + astride, x.r, n * 4u);
    num_copy(c, &run, &x);
    for (u32 j = 2; j < entries; j++) {
      mont_mul(c, &run, &run, &x, op.q);
      __builtin_memcpy(tab + j * astride, run.r, n * 4u);
    }
  }
  num_copy(c, &acc, &c->one);
  u32 nwin = (nb + w - 1u) / w;
  for (u32 wi = nwin; wi-- > 0;) {
    if (wi != nwin - 1u) {
      for (u32 s = 0; s < w; s++) mont_sqr(c, &acc, &acc, op.q);
    }
    for (u32 t = 0; t < k; t++) {
      u32 idx = window_value(exps + t * elen, elen, wi * w, w);
      ct_select(sel.r, tables + t * entries * astride + PAD, astride, entries, idx, n);
      mont_mul(c, &acc, &acc, &sel, op.q);
    }
  }
  from_mont_ct(c, res.f, &acc, op.q, &op.tmp);
  num_to_bytes(c, res.f, out, mlen);
  return op_end(&op, 1, MPC_OK);
}

EXPORT(powm_sec)
u32 mpc_powm_sec(u8 *out, const u8 *base, const u8 *exp, u32 elen, const u8 *mod, u32 mlen) {
  return multi_exp_ct(out, 1, base, exp, elen, mod, mlen);
}

EXPORT(multi_exp_sec)
u32 mpc_multi_exp_sec(u8 *out, u32 k, const u8 *bases, const u8 *exps, u32 elen, const u8 *mod, u32 mlen) {
  return multi_exp_ct(out, k, bases, exps, elen, mod, mlen);
}

/* ---- mul_mod: odd modulus ------------------------------------------------------------------------ */

/* a*b mod m: y = REDC(REDC(a*b) * R^2) = a*b mod mm (< 2mm), then REDC_m(y * (R mod m)) = y mod m
 * with the plain kernel for m (< 2m), and one masked subtraction. (The TypeScript side uses BigInt
 * for mulMod, which measured faster at every size; this entry point is kept for completeness.) */
EXPORT(mul_mod)
u32 mpc_mul_mod(u8 *out, const u8 *a, const u8 *b, const u8 *mod, u32 mlen) {
  op_t op;
  int err;
  if (!op_begin(&op, mod, mlen, &err)) return op_end(&op, 0, (u32)err);
  const ctx_t *c = op.c;
  num_t x, y;
  if (!num_alloc(c, &x) || !num_alloc(c, &y)) return op_end(&op, 0, MPC_ERR_NOMEM);
  if (!num_from_bytes(c, &x, a, mlen) || !num_from_bytes(c, &y, b, mlen)) return op_end(&op, 0, MPC_ERR_ARGS);
  mont_mul(c, &x, &x, &y, op.q);      /* a b R^-1 mod mm, < 2mm */
  mont_mul(c, &y, &x, &c->r2, op.q);  /* a b mod mm, < 2mm */
  c->mul_m(x.f, x.r, x.d, y.f, c->rm.r, c->m.f, c->m.r, op.q, c->n, c->minv_m); /* a b mod m, < 2m */
  reduce_once_ct(c, x.f, op.tmp.f);
  num_to_bytes(c, x.f, out, mlen);
  return op_end(&op, 0, MPC_OK);
}

/* Layout chosen for a modulus (diagnostics and tests): (w << 16) | (friendly << 12) | n, 0 on error. */
EXPORT(layout)
u32 mpc_layout(const u8 *mod, u32 mlen) {
  int err;
  uptr mark = scratch_mark();
  const ctx_t *c = ctx_get(mod, mlen, &err);
  scratch_release(mark, 0);
  return c ? (c->w << 16) | (c->friendly << 12) | c->n : 0;
}
