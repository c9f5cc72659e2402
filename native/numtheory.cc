// Number theory helpers: mulMod, invMod, gcd, jacobi, isProbablePrime.
#include <cstdint>

#include "bigint_io.h"
#include "functions.h"

namespace mpc {

namespace {

bool NonZero(napi_env env, mpz_srcptr z, const char* message) {
  if (mpz_sgn(z) != 0) return true;
  ThrowRangeError(env, message);
  return false;
}

}  // namespace

// a*b mod m.
Napi::Value MulMod(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Mpz a, b, mod, result;
  if (!ReadBigInt(env, info[0], a.get(), "a") || !ReadBigInt(env, info[1], b.get(), "b") ||
      !ReadBigInt(env, info[2], mod.get(), "mod") || !NonZero(env, mod.get(), "mulMod: modulus is zero")) {
    return Result(env, nullptr);
  }
  mpz_mul(result.get(), a.get(), b.get());
  mpz_tdiv_r(result.get(), result.get(), mod.get());
  BurnStackFor(mpz_size(a.get()) + mpz_size(b.get()) + mpz_size(mod.get()));
  return Result(env, WriteBigInt(env, result.get()));
}

// a^-1 mod m in [0, m), or null when gcd(a, m) != 1 (mpz_invert returns 0).
Napi::Value InvMod(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Mpz a, mod, result;
  if (!ReadBigInt(env, info[0], a.get(), "a") || !ReadBigInt(env, info[1], mod.get(), "mod") ||
      !NonZero(env, mod.get(), "invMod: modulus is zero")) {
    return Result(env, nullptr);
  }
  int invertible = mpz_invert(result.get(), a.get(), mod.get());
  BurnStackFor(mpz_size(a.get()) + mpz_size(mod.get()));
  if (invertible == 0) return info.Env().Null();
  return Result(env, WriteBigInt(env, result.get()));
}

// gcd(a, b), with gcd(0, 0) = 0.
Napi::Value Gcd(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Mpz a, b, result;
  if (!ReadBigInt(env, info[0], a.get(), "a") || !ReadBigInt(env, info[1], b.get(), "b")) {
    return Result(env, nullptr);
  }
  mpz_gcd(result.get(), a.get(), b.get());
  BurnStackFor(mpz_size(a.get()) + mpz_size(b.get()));
  return Result(env, WriteBigInt(env, result.get()));
}

// Jacobi symbol (a/n), n odd.
Napi::Value Jacobi(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Mpz a, n;
  if (!ReadBigInt(env, info[0], a.get(), "a") || !ReadBigInt(env, info[1], n.get(), "n")) {
    return Result(env, nullptr);
  }
  if (mpz_even_p(n.get())) return Result(env, ThrowRangeError(env, "jacobi: n must be odd"));
  int symbol = mpz_jacobi(a.get(), n.get());
  BurnStackFor(mpz_size(a.get()) + mpz_size(n.get()));
  return Napi::Number::New(env, symbol);
}

// GMP's test (trial division, Baillie-PSW, then reps-24 Miller-Rabin rounds with GMP's own
// pseudo-random bases): 2 = definitely prime, 1 = probably prime, 0 = composite.
Napi::Value IsProbablePrime(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Mpz n;
  if (!ReadBigInt(env, info[0], n.get(), "n")) return Result(env, nullptr);
  int32_t reps = 0;
  if (napi_get_value_int32(env, info[1], &reps) != napi_ok) {
    return Result(env, ThrowTypeError(env, "isProbablePrime: reps must be a number"));
  }
  if (reps < 1) reps = 1;
  int verdict = mpz_probab_prime_p(n.get(), reps);
  BurnStack();
  return Napi::Boolean::New(env, verdict != 0);
}

}  // namespace mpc
