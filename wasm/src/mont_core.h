/*
 * Montgomery multiplication and squaring kernels, instantiated for a limb width W (29 or 30, note 5).
 * Included by mont.c once per variant; each inclusion defines mont_mul_w<W>[f] and mont_sqr_w<W>[f].
 *
 * WHY THIS SHAPE (the performance story, measured on Node 20 / V8 11 / x86-64):
 *
 * 1. Wasm has no add-with-carry and no 64x64->128 multiply. Full 32-bit limbs would need carry
 *    detection after every 64-bit partial product. Instead limbs hold W = 29 or 30 bits, so a
 *    product is < 2^60 and a dozen or more of them can be summed in a 64-bit lane with no carry handling at
 *    all ("redundant representation"); carries are propagated once per column.
 *
 * 2. SIMD128: i64x2.extmul_{low,high}_i32x4_u computes two 32x32->64 products per instruction
 *    (V8 lowers it to vpunpck + vpmuludq). With a reversed copy of the second operand, every
 *    column of the product, sum_{i+j=c} a_i b_j, is a dot product of two contiguous vectors
 *    (a[i..] against brev[i + n-1-c ..]), so a column is a tight load/extmul/add loop.
 *    (Measured alternatives that lost: scalar 64-bit products, f64x2 with 22-bit limbs,
 *    i32x4.dot_i16x8_s with 14-bit limbs.)
 *
 * 3. Product scanning with interleaved Montgomery reduction (FIPS, "finely integrated product
 *    scanning"): column c of a*b + q*m is accumulated in one pass; for c < n the Montgomery digit
 *    q_c = (column_c * -m^-1) mod 2^W is computed as soon as the column is complete, and the
 *    columns c >= n are the result limbs. No 2n-limb temporary is written.
 *
 * 4. Columns are processed 4 at a time (c = k..k+3): each vector of a (and of q) is loaded once
 *    and used for 4 columns, the loop overhead and the branch misprediction at each loop exit are
 *    paid once per 4 columns, and the four Montgomery digits of a group are stored with a single
 *    16-byte store (which store-to-load forwarding then serves to the next group's loads).
 *    Inside a group the digits depend on each other, so the few products q_{k+l} * m_{j-l} with
 *    l < j ("the triangle") are added in scalar code after the vector loops.
 *
 * 5. Lane capacity: each 64-bit lane may receive fewer than 2^(64-2W) products before it could
 *    overflow (64 for W = 29, 16 for W = 30). The vector accumulators are normalized (NORM4) after
 *    the a*b loop, after the q*m loop, and inside loops longer than CH_PLAIN steps (31 for W = 29,
 *    7 for W = 30; CH_DOUBLED = 15 / 3 for the doubled operand of the squaring): the part above W
 *    bits of column c is moved into column c+1 (and out of column k+3 into a "spill" that seeds
 *    the next group's first column). A normalization is 12 vector operations against 32 per loop
 *    step, so a larger W pays while it removes limbs: at 3072 bits W = 28/29/30 need 112/108/104
 *    limbs. W = 30 is used where it has fewer limbs than W = 29, else W = 29 (mont.c, pick_width);
 *    W = 28, tried first, never won.
 *
 * 6. Squaring: the cross products a_i a_j (i < j) are computed once against the doubled reversed
 *    operand d[] (2a, still < 2^31), the diagonal a_i^2 is added in scalar code. The a*a part then
 *    costs half of a*b; the q*m part is unchanged, so a squaring is ~3/4 of a multiplication.
 *    The column range i < c/2 ends inside a vector; those last few products (4 to 12 per group)
 *    are done in scalar code (a masked vector step cost 5% more: it wastes half its lanes and
 *    competes with the loops for the vector ports, while the integer multiplier is idle).
 *
 * 7. The Montgomery digits of a group depend on each other serially (q_{k+1} needs the carry out of
 *    column k), and that chain was measured at ~7% of a squaring. When it costs no extra limb, the
 *    context works modulo m' = k*m with k = -m^-1 mod 2^W, so that m'_0 = 2^W - 1 and -m'^-1 = 1:
 *    q = t mod 2^W and the carry is (t >> W) + q, without the two multiplications (FRIENDLY = 1).
 *    Residues mod m' reduce to residues mod m; the final conversion uses the plain kernel mod m.
 *    Measured: 2-5% per squaring at 1536-4096 bits. (Scaling by -m^-1 mod 2^(2W) as well, which
 *    turns q*m1 into a shift, measured no further gain.)
 *
 * 8. No data-dependent branches or memory indices anywhere (loop bounds depend on n only), so the
 *    kernels are constant time in the operand values; powmSec relies on this.
 *
 * Preconditions: n multiple of 4, 4 <= n <= MAX_LIMBS; every input limb < 2^W;
 * input values < 2m; R = 2^(W n) >= 4m. Output: normalized limbs, value < 2m, congruent to
 * a*b*R^-1 mod m. out may alias a or b (see the aliasing note in mont_mul in mont.c).
 * Arrays carry PAD zero limbs on both sides; q has room for n + 4 limbs.
 */

#define MK_CAT_(a, b) a##b
#define MK_CAT(a, b) MK_CAT_(a, b)
#if FRIENDLY
#define MUL_NAME MK_CAT(MK_CAT(mont_mul_w, W), f)
#define SQR_NAME MK_CAT(MK_CAT(mont_sqr_w, W), f)
#else
#define MUL_NAME MK_CAT(mont_mul_w, W)
#define SQR_NAME MK_CAT(mont_sqr_w, W)
#endif
#define WMASK ((1u << W) - 1u)

#ifndef MONT_CORE_COMMON
#define MONT_CORE_COMMON
#define LD(p) wasm_v128_load(p)
#define MLO(x, y) wasm_u64x2_extmul_low_u32x4(x, y)
#define MHI(x, y) wasm_u64x2_extmul_high_u32x4(x, y)
#define ADD64(x, y) wasm_i64x2_add(x, y)
/* c += x[0]*y[0] + x[1]*y[1] (lane 0) and x[2]*y[2] + x[3]*y[3] (lane 1) */
#define STEP(c, va, p)                                  \
  do {                                                  \
    v128_t y_ = LD(p);                                  \
    c = ADD64(c, ADD64(MLO(va, y_), MHI(va, y_)));      \
  } while (0)
/* one vector of the left operand against the 4 columns of the group; pb points at the
 * right operand for column k+3, so column k+j reads pb + 3 - j */
#define STEP4(va, pb)      \
  STEP(c0, va, (pb) + 3);  \
  STEP(c1, va, (pb) + 2);  \
  STEP(c2, va, (pb) + 1);  \
  STEP(c3, va, (pb))
/* sum of the two lanes of x and y: returns [x0 + x1, y0 + y1] */
#define HPAIR(x, y) ADD64(wasm_i64x2_shuffle(x, y, 0, 2), wasm_i64x2_shuffle(x, y, 1, 3))

/* output limbs o0..o3 as forward, reversed and doubled-reversed vectors */
static inline void store_out4(u32 *of, u32 *orv, u32 *ord, u32 o0, u32 o1, u32 o2, u32 o3) {
  v128_t v = wasm_i64x2_make((u64)o0 | ((u64)o1 << 32), (u64)o2 | ((u64)o3 << 32));
  v128_t r = wasm_i32x4_shuffle(v, v, 3, 2, 1, 0);
  wasm_v128_store(of, v);
  wasm_v128_store(orv, r);
  wasm_v128_store(ord, wasm_i32x4_shl(r, 1));
}

#endif

/* Move the bits above W of each column into the next column; column k+3's go to the spill. */
#define NORM4()                                                  \
  do {                                                           \
    v128_t mk_ = wasm_i64x2_splat(WMASK);                        \
    c1 = ADD64(c1, wasm_u64x2_shr(c0, W));                       \
    c0 = wasm_v128_and(c0, mk_);                                 \
    c2 = ADD64(c2, wasm_u64x2_shr(c1, W));                       \
    c1 = wasm_v128_and(c1, mk_);                                 \
    c3 = ADD64(c3, wasm_u64x2_shr(c2, W));                       \
    c2 = wasm_v128_and(c2, mk_);                                 \
    spill = ADD64(spill, wasm_u64x2_shr(c3, W));                 \
    c3 = wasm_v128_and(c3, mk_);                                 \
  } while (0)

/* Lane capacity in units of 2^(2W) (one product of two W-bit limbs): 63 for W = 29. Each loop step
 * adds 2 units per lane (4 in the squaring's cross-product loop, whose right operand is doubled),
 * so loops longer than CH_* steps normalize between chunks (only n > 124 for W = 29). */
#define CH_PLAIN ((int)(((1ull << (64 - 2 * W)) - 2u) / 2u))
#define CH_DOUBLED ((int)(((1ull << (64 - 2 * W)) - 2u) / 4u))
/* for (p = p0; p < pe; p += 4) BODY, with a NORM4 after every `ch` steps */
#define CHUNKED(p, pe, ch, BODY)                \
  while ((p) < (pe)) {                          \
    const u32 *ce_ = (p) + 4 * (ch);            \
    if (ce_ > (pe)) ce_ = (pe);                 \
    do {                                        \
      BODY                                      \
    } while ((p) < ce_);                        \
    if ((p) < (pe)) NORM4();                    \
  }

/* After the final NORM4 every lane is < 2^W + small, so lane sums are tiny: extract V_k..V_k+3. */
#define COLUMN_SUMS()                           \
  v128_t s01_ = HPAIR(c0, c1), s23_ = HPAIR(c2, c3); \
  u64 v0 = wasm_u64x2_extract_lane(s01_, 0);    \
  u64 v1 = wasm_u64x2_extract_lane(s01_, 1);    \
  u64 v2 = wasm_u64x2_extract_lane(s23_, 0);    \
  u64 v3 = wasm_u64x2_extract_lane(s23_, 1)

/* Montgomery digit for one column: t = column value; q = t * (-m^-1) mod 2^W; t + q*m0 = 0 mod 2^W */
#if FRIENDLY
/* m0 = 2^W - 1 (so -m^-1 = 1 mod 2^W): q = t mod 2^W, and t + q m0 = (t - q) + q 2^W, so the carry
 * is (t >> W) + q. Two multiplications leave the serial chain (see note 7). */
#define QDIGIT(qj, vj, extra)                   \
  t = (vj) + carry + (extra);                   \
  qj = (u32)t & WMASK;                          \
  carry = (t >> W) + qj;                        \
  (void)minv;                                   \
  (void)m0
#else
#define QDIGIT(qj, vj, extra)                   \
  t = (vj) + carry + (extra);                   \
  qj = ((u32)t * minv) & WMASK;                 \
  t += (u64)qj * m0;                            \
  carry = t >> W
#endif

#define ODIGIT(oj, vj, extra)                   \
  t = (vj) + carry + (extra);                   \
  oj = (u32)t & WMASK;                          \
  carry = t >> W


static void MUL_NAME(u32 *of, u32 *orv, u32 *ord, const u32 *af, const u32 *brev, const u32 *mf,
                     const u32 *mrev, u32 *q, u32 n, u32 minv) {
  const int N = (int)n;
  const u64 m0 = mf[0], m1 = mf[1], m2 = mf[2], m3 = mf[3];
  u64 carry = 0, t;
  v128_t spill = wasm_i64x2_splat(0);
  for (int k = 0; k < 2 * N; k += 4) {
    v128_t c0 = spill, c1 = wasm_i64x2_splat(0), c2 = c1, c3 = c1;
    spill = c1;
    /* column k+j, j = 0..3, reads brev[n-1-(k+j)+i]: pb = brev + n-1-k-3 + i */
    const int L = k < N ? 0 : k - N;          /* first i with a nonzero term */
    const int Uab = k < N ? k + 4 : N;        /* a*b: i <= k+3 (zero padding beyond) */
    const int Uqm = k < N ? k : N;            /* q*m: only digits already known */
    {
      const u32 *pa = af + L, *pb = brev + (N - 4 - k) + L, *pe = af + Uab;
      CHUNKED(pa, pe, CH_PLAIN, {
        v128_t va = LD(pa);
        STEP4(va, pb);
        pa += 4;
        pb += 4;
      })
    }
    NORM4();
    {
      const u32 *pq = q + L, *pm = mrev + (N - 4 - k) + L, *pe = q + Uqm;
      CHUNKED(pq, pe, CH_PLAIN, {
        v128_t vq = LD(pq);
        STEP4(vq, pm);
        pq += 4;
        pm += 4;
      })
    }
    NORM4();
    COLUMN_SUMS();
    if (k < N) {
      u32 q0, q1, q2, q3;
      QDIGIT(q0, v0, 0);
      QDIGIT(q1, v1, q0 * m1);
      QDIGIT(q2, v2, q0 * m2 + q1 * m1);
      QDIGIT(q3, v3, q0 * m3 + q1 * m2 + q2 * m1);
      wasm_v128_store(q + k, wasm_i64x2_make((u64)q0 | ((u64)q1 << 32), (u64)q2 | ((u64)q3 << 32)));
    } else {
      u32 o0, o1, o2, o3;
      ODIGIT(o0, v0, 0);
      ODIGIT(o1, v1, 0);
      ODIGIT(o2, v2, 0);
      ODIGIT(o3, v3, 0);
      store_out4(of + (k - N), orv + (2 * N - 4 - k), ord + (2 * N - 4 - k), o0, o1, o2, o3);
    }
  }
}

static void SQR_NAME(u32 *of, u32 *orv, u32 *ord, const u32 *af, const u32 *a2rev, const u32 *mf,
                     const u32 *mrev, u32 *q, u32 n, u32 minv) {
  const int N = (int)n;
  const u64 m0 = mf[0], m1 = mf[1], m2 = mf[2], m3 = mf[3];
  u64 carry = 0, t;
  v128_t spill = wasm_i64x2_splat(0);
  for (int k = 0; k < 2 * N; k += 4) {
    v128_t c0 = spill, c1 = wasm_i64x2_splat(0), c2 = c1, c3 = c1;
    spill = c1;
    const int L = k < N ? 0 : k - N;
    /* cross products: column c takes i < ceil(c/2); full vectors below U, one masked vector at U */
    const int U = (k >> 3) << 2;
    const int r0 = (k >> 1) - U; /* 0 or 2 */
    const u32 *pb0 = a2rev + (N - 4 - k);
    {
      const u32 *pa = af + L, *pb = pb0 + L, *pe = af + U;
      CHUNKED(pa, pe, CH_DOUBLED, {
        v128_t va = LD(pa);
        STEP4(va, pb);
        pa += 4;
        pb += 4;
      })
    }
    /* the last 0..4 cross products of each column (i in [U, ceil(c/2))) in scalar code, which runs
     * on the otherwise idle integer multiplier: column k+j reads d[n-1-(k+j)+i] = dk[i - U - j] */
    u64 e0, e1, e2, e3;
    {
      const u32 *A = af + U, *dk = a2rev + (N - 1 - k) + U;
      const u64 A0 = A[0], A1 = A[1];
      if (r0 == 0) {
        e0 = 0;
        e1 = A0 * dk[-1];
        e2 = A0 * dk[-2];
        e3 = A0 * dk[-3] + A1 * dk[-2];
      } else {
        const u64 A2 = A[2], A3 = A[3];
        e0 = A0 * dk[0] + A1 * dk[1];
        e1 = A0 * dk[-1] + A1 * dk[0] + A2 * dk[1];
        e2 = A0 * dk[-2] + A1 * dk[-1] + A2 * dk[0];
        e3 = A0 * dk[-3] + A1 * dk[-2] + A2 * dk[-1] + A3 * dk[0];
      }
    }
    NORM4();
    {
      const int Uqm = k < N ? k : N;
      const u32 *pq = q + L, *pm = mrev + (N - 4 - k) + L, *pe = q + Uqm;
      CHUNKED(pq, pe, CH_PLAIN, {
        v128_t vq = LD(pq);
        STEP4(vq, pm);
        pq += 4;
        pm += 4;
      })
    }
    NORM4();
    COLUMN_SUMS();
    /* diagonal terms a_{c/2}^2 of the even columns k and k+2 */
    u64 x0 = af[k >> 1], x2 = af[(k >> 1) + 1];
    u64 d0 = x0 * x0, d2 = x2 * x2;
    if (k < N) {
      u32 q0, q1, q2, q3;
      QDIGIT(q0, v0, d0 + e0);
      QDIGIT(q1, v1, e1 + q0 * m1);
      QDIGIT(q2, v2, d2 + e2 + q0 * m2 + q1 * m1);
      QDIGIT(q3, v3, e3 + q0 * m3 + q1 * m2 + q2 * m1);
      wasm_v128_store(q + k, wasm_i64x2_make((u64)q0 | ((u64)q1 << 32), (u64)q2 | ((u64)q3 << 32)));
    } else {
      u32 o0, o1, o2, o3;
      ODIGIT(o0, v0, d0 + e0);
      ODIGIT(o1, v1, e1);
      ODIGIT(o2, v2, d2 + e2);
      ODIGIT(o3, v3, e3);
      store_out4(of + (k - N), orv + (2 * N - 4 - k), ord + (2 * N - 4 - k), o0, o1, o2, o3);
    }
  }
}

#undef MUL_NAME
#undef SQR_NAME
#undef WMASK
#undef NORM4
#undef CH_PLAIN
#undef CH_DOUBLED
#undef CHUNKED
#undef COLUMN_SUMS
#undef QDIGIT
#undef ODIGIT
