// The functions the addon exports, one group per capability file. Each maps 1:1 onto a method of
// the TypeScript `RawMath` contract (src/math/raw.ts); the shell there validates every argument,
// so these only guard against what would be undefined behaviour in GMP (division by zero,
// an even modulus for the _sec functions, wrong JS types) and then throw ERR_MATH_BACKEND_FAILED.
#ifndef MPC_NATIVE_FUNCTIONS_H_
#define MPC_NATIVE_FUNCTIONS_H_

#include <napi.h>

namespace mpc {

// powm.cc
Napi::Value Powm(const Napi::CallbackInfo& info);       // (base, exp, mod) -> bigint
Napi::Value PowmSec(const Napi::CallbackInfo& info);    // (base, exp, mod) -> bigint
Napi::Value PowmBatch(const Napi::CallbackInfo& info);  // (flat: bigint[3n], secret: Uint8Array[n]) -> bigint[n]

// multiexp.cc
Napi::Value MultiExp(const Napi::CallbackInfo& info);     // (bases[], exps[], mod) -> bigint
Napi::Value MultiExpSec(const Napi::CallbackInfo& info);  // (bases[], exps[], mod) -> bigint

// numtheory.cc
Napi::Value MulMod(const Napi::CallbackInfo& info);           // (a, b, mod) -> bigint
Napi::Value InvMod(const Napi::CallbackInfo& info);           // (a, mod) -> bigint | null
Napi::Value Gcd(const Napi::CallbackInfo& info);              // (a, b) -> bigint
Napi::Value Jacobi(const Napi::CallbackInfo& info);           // (a, n) -> -1 | 0 | 1
Napi::Value IsProbablePrime(const Napi::CallbackInfo& info);  // (n, reps) -> boolean

}  // namespace mpc

#endif  // MPC_NATIVE_FUNCTIONS_H_
