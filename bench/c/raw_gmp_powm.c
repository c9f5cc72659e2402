/*
 * Raw GMP baseline for the native backend: times mpz_powm and mpz_powm_sec directly, with no
 * JavaScript in the loop. Driven by bench/raw-gmp.ts, which compiles it with `cc -O2 ... -lgmp`.
 *
 * Usage: raw_gmp_powm [--inputs] MODBITS:EXPBITS:ITERATIONS ...
 *
 * For each case the operands are fixed by a seed derived from (MODBITS, EXPBITS) alone, so every
 * run and every case order sees the same numbers: an odd MODBITS-bit modulus m (top and low bit
 * set), a base uniform in [0, m) and an EXPBITS-bit exponent (top bit set), all from
 * gmp_randinit_default. Output, one JSON object per line:
 *   {"modBits":M,"expBits":E,"op":"inputs","base":"hex","exp":"hex","mod":"hex","result":"hex"}
 *       (only with --inputs; result = base^exp mod m, so another implementation can be timed on
 *       the same operands and checked)
 *   {"modBits":M,"expBits":E,"op":"powm","msPerOp":T}
 *   {"modBits":M,"expBits":E,"op":"powmSec","msPerOp":T}
 * Each op gets one untimed warm-up call, then ITERATIONS timed calls (CLOCK_MONOTONIC).
 */
#define _POSIX_C_SOURCE 199309L
#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void print_hex(const char *key, const mpz_t z) {
  char *s = mpz_get_str(NULL, 16, z);
  printf(",\"%s\":\"%s\"", key, s);
  void (*free_fn)(void *, size_t);
  mp_get_memory_functions(NULL, NULL, &free_fn);
  free_fn(s, strlen(s) + 1);
}

static double time_op(int secret, mpz_t r, const mpz_t b, const mpz_t e, const mpz_t m, long iterations) {
  if (secret) mpz_powm_sec(r, b, e, m); else mpz_powm(r, b, e, m); /* warm-up */
  double t0 = now_ms();
  for (long i = 0; i < iterations; i++) {
    if (secret) mpz_powm_sec(r, b, e, m); else mpz_powm(r, b, e, m);
  }
  return (now_ms() - t0) / (double)iterations;
}

int main(int argc, char **argv) {
  int print_inputs = 0;
  mpz_t m, b, e, r;
  mpz_inits(m, b, e, r, NULL);
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--inputs") == 0) {
      print_inputs = 1;
      continue;
    }
    unsigned long mod_bits = 0, exp_bits = 0;
    long iterations = 0;
    if (sscanf(argv[a], "%lu:%lu:%ld", &mod_bits, &exp_bits, &iterations) != 3 || mod_bits < 2 || exp_bits < 1 ||
        iterations < 1) {
      fprintf(stderr, "bad case '%s' (want MODBITS:EXPBITS:ITERATIONS, MODBITS >= 2)\n", argv[a]);
      return 2;
    }
    gmp_randstate_t rng;
    gmp_randinit_default(rng);
    gmp_randseed_ui(rng, 0x6d7063UL ^ (mod_bits << 20) ^ exp_bits);
    mpz_urandomb(m, rng, mod_bits);
    mpz_setbit(m, mod_bits - 1);
    mpz_setbit(m, 0);
    mpz_urandomm(b, rng, m);
    mpz_urandomb(e, rng, exp_bits);
    mpz_setbit(e, exp_bits - 1);
    gmp_randclear(rng);

    if (print_inputs) {
      mpz_powm(r, b, e, m);
      printf("{\"modBits\":%lu,\"expBits\":%lu,\"op\":\"inputs\"", mod_bits, exp_bits);
      print_hex("base", b);
      print_hex("exp", e);
      print_hex("mod", m);
      print_hex("result", r);
      printf("}\n");
    }
    double powm = time_op(0, r, b, e, m, iterations);
    printf("{\"modBits\":%lu,\"expBits\":%lu,\"op\":\"powm\",\"msPerOp\":%.6f}\n", mod_bits, exp_bits, powm);
    double sec = time_op(1, r, b, e, m, iterations);
    printf("{\"modBits\":%lu,\"expBits\":%lu,\"op\":\"powmSec\",\"msPerOp\":%.6f}\n", mod_bits, exp_bits, sec);
    fflush(stdout);
  }
  mpz_clears(m, b, e, r, NULL);
  return 0;
}
