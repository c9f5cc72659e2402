// Modular exponentiation: single (public / secret exponent) and batched.
//
// powm    -> mpz_powm      (sliding window, variable time: public exponents only)
// powmSec -> mpz_powm_sec  (fixed window with side-channel silent table lookups)
// Nothing else happens between the BigInt conversions and the GMP call, so the cost over raw GMP
// is two N-API word copies per operand and one for the result.
#include <cstdint>

#include "bigint_io.h"
#include "functions.h"

namespace mpc {

namespace {

// The only checks made here: those without which GMP would divide by zero (it raises SIGFPE).
bool CheckModulus(napi_env env, mpz_srcptr mod, bool secret) {
  if (mpz_sgn(mod) == 0) {
    ThrowRangeError(env, "modulus is zero");
    return false;
  }
  if (secret && mpz_even_p(mod)) {
    ThrowRangeError(env, "modulus of a constant-time exponentiation must be odd");
    return false;
  }
  return true;
}

// result = base^exp mod mod. mpz_powm_sec with exp = 0 returns 1 mod m (the shell never asks).
void Exponentiate(mpz_ptr result, mpz_srcptr base, mpz_srcptr exp, mpz_srcptr mod, bool secret) {
  if (secret) {
    mpz_powm_sec(result, base, exp, mod);
  } else {
    mpz_powm(result, base, exp, mod);
  }
}

Napi::Value PowmImpl(const Napi::CallbackInfo& info, bool secret) {
  napi_env env = info.Env();
  Mpz base, exp, mod, result;
  if (!ReadBigInt(env, info[0], base.get(), "base") || !ReadBigInt(env, info[1], exp.get(), "exp") ||
      !ReadBigInt(env, info[2], mod.get(), "mod") || !CheckModulus(env, mod.get(), secret)) {
    return Result(env, nullptr);
  }
  Exponentiate(result.get(), base.get(), exp.get(), mod.get(), secret);
  BurnStack();
  return Result(env, WriteBigInt(env, result.get()));
}

}  // namespace

Napi::Value Powm(const Napi::CallbackInfo& info) { return PowmImpl(info, false); }

Napi::Value PowmSec(const Napi::CallbackInfo& info) { return PowmImpl(info, true); }

// powmBatch(flat, secret): flat = [base0, exp0, mod0, base1, ...], secret[i] != 0 selects the
// constant-time path for task i. The TS side flattens PowmTask objects so that we read array
// elements only (no property lookups by name).
Napi::Value PowmBatch(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  napi_value flat = info[0];
  napi_value flags = info[1];

  bool is_array = false;
  if (napi_is_array(env, flat, &is_array) != napi_ok || !is_array) {
    return Result(env, ThrowTypeError(env, "powmBatch: tasks must be an array"));
  }
  bool is_typed = false;
  napi_typedarray_type type = napi_int8_array;
  size_t count = 0;
  void* data = nullptr;
  if (napi_is_typedarray(env, flags, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, flags, &type, &count, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return Result(env, ThrowTypeError(env, "powmBatch: secret flags must be a Uint8Array"));
  }
  uint32_t length = 0;
  if (napi_get_array_length(env, flat, &length) != napi_ok || static_cast<uint64_t>(length) != 3ull * count) {
    return Result(env, ThrowRangeError(env, "powmBatch: expected 3 values per task"));
  }
  const uint8_t* secret = static_cast<const uint8_t*>(data);

  napi_value results = nullptr;
  if (napi_create_array_with_length(env, count, &results) != napi_ok) return Result(env, nullptr);

  // One set of variables for the whole batch: GMP grows them once and reuses their limbs.
  Mpz base, exp, mod, result;
  bool ok = true;
  for (size_t i = 0; ok && i < count; i++) {
    napi_handle_scope scope = nullptr;
    if (napi_open_handle_scope(env, &scope) != napi_ok) {
      ok = false;
      break;
    }
    napi_value b = nullptr, e = nullptr, m = nullptr, r = nullptr;
    uint32_t at = static_cast<uint32_t>(3 * i);
    ok = napi_get_element(env, flat, at, &b) == napi_ok && napi_get_element(env, flat, at + 1, &e) == napi_ok &&
         napi_get_element(env, flat, at + 2, &m) == napi_ok && ReadBigInt(env, b, base.get(), "base") &&
         ReadBigInt(env, e, exp.get(), "exp") && ReadBigInt(env, m, mod.get(), "mod") &&
         CheckModulus(env, mod.get(), secret[i] != 0);
    if (ok) {
      Exponentiate(result.get(), base.get(), exp.get(), mod.get(), secret[i] != 0);
      r = WriteBigInt(env, result.get());
      ok = r != nullptr && napi_set_element(env, results, static_cast<uint32_t>(i), r) == napi_ok;
    }
    napi_close_handle_scope(env, scope);
  }
  BurnStack();
  return Result(env, ok ? results : nullptr);
}

}  // namespace mpc
