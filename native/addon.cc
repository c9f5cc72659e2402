// Registration of the mpc_math addon: the GMP core behind src/math/native.ts.
//
// Layout (one file per capability area):
//   secure_mem.{h,cc}  zeroizing GMP allocator, stack burning, wiped limb buffers
//   bigint_io.{h,cc}   JS BigInt <-> mpz_t (64-bit words straight into limbs), errors
//   powm.cc            powm, powmSec, powmBatch
//   multiexp.cc        multiExp (simultaneous, Montgomery), multiExpSec (mpn_sec_powm)
//   numtheory.cc       mulMod, invMod, gcd, jacobi, isProbablePrime
// (native/secp256k1.cc is a separate addon, mpc_secp256k1, built only when libsecp256k1 is found.)
//
// All functions are synchronous: heavy calls run inside piscina worker threads, never on the
// event loop. The module is context aware (N-API), so every worker thread may load it.
#include <gmp.h>
#include <napi.h>

#include "functions.h"
#include "secure_mem.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  mpc::InstallZeroizingAllocator();
  exports.Set("powm", Napi::Function::New(env, mpc::Powm, "powm"));
  exports.Set("powmSec", Napi::Function::New(env, mpc::PowmSec, "powmSec"));
  exports.Set("powmBatch", Napi::Function::New(env, mpc::PowmBatch, "powmBatch"));
  exports.Set("multiExp", Napi::Function::New(env, mpc::MultiExp, "multiExp"));
  exports.Set("multiExpSec", Napi::Function::New(env, mpc::MultiExpSec, "multiExpSec"));
  exports.Set("mulMod", Napi::Function::New(env, mpc::MulMod, "mulMod"));
  exports.Set("invMod", Napi::Function::New(env, mpc::InvMod, "invMod"));
  exports.Set("gcd", Napi::Function::New(env, mpc::Gcd, "gcd"));
  exports.Set("jacobi", Napi::Function::New(env, mpc::Jacobi, "jacobi"));
  exports.Set("isProbablePrime", Napi::Function::New(env, mpc::IsProbablePrime, "isProbablePrime"));
  exports.Set("gmpVersion", Napi::String::New(env, gmp_version));
  return exports;
}

}  // namespace

NODE_API_MODULE(mpc_math, Init)
