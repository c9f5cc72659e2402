/*
 * mpc_math — freestanding wasm32 Montgomery arithmetic for the mpc-custody math core.
 *
 * Shared declarations. No libc: the only runtime support is the bump allocator in alloc.c and the
 * compiler builtins (memory.fill / memory.copy with -mbulk-memory, memory.grow).
 *
 * Number representation (see mont_core.h for why):
 *   a residue is held in n limbs of W = 29 or 30 bits each (chosen per modulus), little-endian,
 *   every limb < 2^W ("normalized"). n is a multiple of 4 and R = 2^(W*n) >= 4*m, so Montgomery
 *   products of inputs < 2m stay < 2m without any final subtraction (Walter's bound); only the
 *   final conversion out of Montgomery form subtracts, with masks.
 *   Each number is stored three times: forward limbs f[], reversed limbs r[] (r[i] = f[n-1-i]) and
 *   doubled reversed limbs d[] (d[i] = 2*f[n-1-i]), each with PAD zero limbs on both sides, so that
 *   every column of a product is a plain dot product of two contiguous vectors (see mont_core.h).
 */
#ifndef MPC_MATH_H
#define MPC_MATH_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long uptr;

#define EXPORT(name) __attribute__((export_name(#name), visibility("default")))

/* Limits: 8192-bit moduli and exponents (MATH_LIMITS in src/math/raw.ts). */
#define MAX_MOD_BYTES 1024u
#define MAX_EXP_BYTES 1024u
#define MAX_TERMS 64u
/* Largest limb count (W = 29): ceil((8192 + 2) / 29) = 283, rounded up to a multiple of 4. */
#define MAX_LIMBS 284u
/* Zero limbs around each array: loads reach 4 limbs before and 3 after the data. */
#define PAD 8u

/* Status codes returned to JS. */
#define MPC_OK 0
#define MPC_ERR_ARGS 1  /* modulus even / too small / too large, operand too large */
#define MPC_ERR_NOMEM 2 /* memory.grow failed */

typedef struct {
  u32 *f, *r, *d;
} num_t;

typedef void (*mul_fn)(u32 *of, u32 *orv, u32 *ord, const u32 *af, const u32 *brev, const u32 *mf,
                       const u32 *mrev, u32 *q, u32 n, u32 minv);
typedef void (*sqr_fn)(u32 *of, u32 *orv, u32 *ord, const u32 *af, const u32 *a2rev, const u32 *mf,
                       const u32 *mrev, u32 *q, u32 n, u32 minv);

typedef struct {
  u32 used;     /* cache slot in use */
  u32 stamp;    /* LRU stamp */
  u32 mlen;     /* modulus length in bytes (no leading zero byte) */
  u32 bits;     /* modulus bit length */
  u32 w;        /* limb width: 29 or 30 */
  u32 n;        /* limb count, multiple of 4 */
  u32 friendly; /* working modulus is k*m with k = -m^-1 mod 2^w (mont_core.h note 7) */
  u32 minv;     /* -mm^-1 mod 2^w (1 when friendly) */
  u32 minv_m;   /* -m^-1 mod 2^w */
  u8 key[MAX_MOD_BYTES];
  num_t m;    /* the modulus (f and r used) */
  num_t mm;   /* working modulus for exponentiation: m, or k*m when friendly */
  num_t one;  /* R mod mm: Montgomery form of 1 */
  num_t r2;   /* R^2 mod mm */
  num_t rm;   /* R mod m (last step of mul_mod) */
  mul_fn mul; /* kernels modulo mm */
  sqr_fn sqr;
  mul_fn mul_m; /* plain kernel modulo m (leaving Montgomery form) */
} ctx_t;

/* alloc.c */
void *scratch_alloc(u32 bytes);          /* 16-byte aligned, zeroed; 0 when memory cannot grow */
uptr scratch_mark(void);
void scratch_release(uptr mark, int wipe); /* wipe: zero everything allocated since mark */

/* mont.c */
u32 num_stride(const ctx_t *c);
int num_alloc(const ctx_t *c, num_t *x);
void num_copy(const ctx_t *c, num_t *dst, const num_t *src);
void num_refresh(const ctx_t *c, num_t *x); /* recompute r[] and d[] from f[] */
const ctx_t *ctx_get(const u8 *mod, u32 mlen, int *err);
void mont_mul(const ctx_t *c, num_t *out, const num_t *a, const num_t *b, u32 *q);
void mont_sqr(const ctx_t *c, num_t *out, const num_t *a, u32 *q);
int num_from_bytes(const ctx_t *c, num_t *x, const u8 *be, u32 len);
void num_to_bytes(const ctx_t *c, const u32 *f, u8 *be, u32 len);
void to_mont(const ctx_t *c, num_t *out, const num_t *x, u32 *q);
void from_mont_ct(const ctx_t *c, u32 *outf, const num_t *x, u32 *q, num_t *tmp);

#endif
