// JS BigInt <-> mpz_t conversion and the small helpers every capability file shares.
//
// On 64-bit-limb builds (x86_64, arm64) a BigInt's 64-bit words are copied by V8 straight into the
// mpz_t's limb array (mpz_limbs_write / mpz_limbs_read): one copy in, one copy out, no import pass.
#ifndef MPC_NATIVE_BIGINT_IO_H_
#define MPC_NATIVE_BIGINT_IO_H_

#include <gmp.h>
#include <napi.h>

#include "secure_mem.h"

namespace mpc {

/** An mpz_t whose limbs are wiped before mpz_clear (see secure_mem.h). */
class Mpz {
 public:
  Mpz() { mpz_init(z_); }
  ~Mpz() {
    Wipe();
    mpz_clear(z_);
  }
  Mpz(const Mpz&) = delete;
  Mpz& operator=(const Mpz&) = delete;

  mpz_ptr get() { return z_; }
  mpz_srcptr get() const { return z_; }

  /** Zeroes every allocated limb (GMP exposes no accessor for the allocation size, so we read
   *  the documented struct fields). The value becomes garbage; call only before clear/overwrite. */
  void Wipe() { SecureZero(z_->_mp_d, static_cast<size_t>(z_->_mp_alloc) * sizeof(mp_limb_t)); }

 private:
  mpz_t z_;
};

/** The `code` property and message prefix of every error the addon throws. The shell guarantees
 *  the preconditions, so reaching one of these errors means a bug in the caller. */
constexpr const char* kErrorCode = "ERR_MATH_BACKEND_FAILED";

/** Throws TypeError / RangeError with code kErrorCode. Always returns nullptr, for `return Throw...`. */
napi_value ThrowTypeError(napi_env env, const char* message);
napi_value ThrowRangeError(napi_env env, const char* message);

/**
 * Reads the magnitude of a JS bigint into z. The sign is ignored: the shell guarantees values are
 * >= 0. Returns false with a pending TypeError if `value` is not a bigint.
 */
bool ReadBigInt(napi_env env, napi_value value, mpz_ptr z, const char* what);

/** Returns a new JS bigint equal to z (z >= 0), or nullptr with a pending exception. */
napi_value WriteBigInt(napi_env env, mpz_srcptr z);

/** Wraps a raw result (nullptr when an exception is pending) for return from a Napi callback. */
inline Napi::Value Result(napi_env env, napi_value value) { return Napi::Value(env, value); }

}  // namespace mpc

#endif  // MPC_NATIVE_BIGINT_IO_H_
