// JS BigInt <-> mpz_t conversion. See bigint_io.h.
#include "bigint_io.h"

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace mpc {

namespace {

constexpr bool kLimbIsWord = GMP_NUMB_BITS == 64 && GMP_NAIL_BITS == 0 && sizeof(mp_limb_t) == sizeof(uint64_t);

napi_value Throw(napi_env env, bool type_error, const char* message) {
  char full[256];
  std::snprintf(full, sizeof full, "%s: native mpc_math: %s", kErrorCode, message);
  if (type_error) {
    napi_throw_type_error(env, kErrorCode, full);
  } else {
    napi_throw_range_error(env, kErrorCode, full);
  }
  return nullptr;
}

}  // namespace

napi_value ThrowTypeError(napi_env env, const char* message) { return Throw(env, true, message); }
napi_value ThrowRangeError(napi_env env, const char* message) { return Throw(env, false, message); }

bool ReadBigInt(napi_env env, napi_value value, mpz_ptr z, const char* what) {
  size_t words = 0;
  // With sign and words both null, N-API only reports the word count (and fails on non-bigints).
  if (napi_get_value_bigint_words(env, value, nullptr, &words, nullptr) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) {
      char message[128];
      std::snprintf(message, sizeof message, "%s must be a bigint", what);
      ThrowTypeError(env, message);
    }
    return false;
  }
  if (words == 0) {
    mpz_set_ui(z, 0);
    return true;
  }
  int sign = 0;
  if constexpr (kLimbIsWord) {
    mp_limb_t* limbs = mpz_limbs_write(z, static_cast<mp_size_t>(words));
    size_t count = words;
    if (napi_get_value_bigint_words(env, value, &sign, &count, reinterpret_cast<uint64_t*>(limbs)) != napi_ok) {
      mpz_limbs_finish(z, 0);
      return false;
    }
    mpz_limbs_finish(z, static_cast<mp_size_t>(count));  // normalizes away high zero limbs
  } else {
    SecureLimbs buffer((words * 64 + GMP_LIMB_BITS - 1) / GMP_LIMB_BITS);
    uint64_t* w = reinterpret_cast<uint64_t*>(buffer.data());
    size_t count = words;
    if (napi_get_value_bigint_words(env, value, &sign, &count, w) != napi_ok) return false;
    mpz_import(z, count, -1, sizeof(uint64_t), 0, 0, w);
  }
  return true;
}

napi_value WriteBigInt(napi_env env, mpz_srcptr z) {
  static const uint64_t kZero = 0;
  napi_value result = nullptr;
  size_t size = mpz_size(z);
  if (size == 0) {
    if (napi_create_bigint_words(env, 0, 0, &kZero, &result) != napi_ok) return nullptr;
    return result;
  }
  if constexpr (kLimbIsWord) {
    if (size > static_cast<size_t>(INT_MAX)) return ThrowRangeError(env, "result too large");
    if (napi_create_bigint_words(env, 0, size, reinterpret_cast<const uint64_t*>(mpz_limbs_read(z)), &result) !=
        napi_ok) {
      return nullptr;
    }
  } else {
    size_t words = (mpz_sizeinbase(z, 2) + 63) / 64;
    SecureLimbs buffer((words * 64 + GMP_LIMB_BITS - 1) / GMP_LIMB_BITS);
    uint64_t* w = reinterpret_cast<uint64_t*>(buffer.data());
    size_t count = 0;
    mpz_export(w, &count, -1, sizeof(uint64_t), 0, 0, z);
    if (napi_create_bigint_words(env, 0, count, w, &result) != napi_ok) return nullptr;
  }
  return result;
}

}  // namespace mpc
