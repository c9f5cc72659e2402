// The mpc_secp256k1 addon: secp256k1 through libsecp256k1 (Debian libsecp256k1-dev), built only
// when binding.gyp finds the library, and kept apart from the GMP core (mpc_math) so a missing
// libsecp256k1.so at run time costs this addon only. The TypeScript side
// (src/primitives/secp256k1-backend.ts) falls back to @noble/curves and checks these results
// against it in test/primitives.
//
// Only the library's public API is used, so every operation is one the library documents:
//   secpMul(point, scalar32)    -> 33 bytes | null  secp256k1_ec_pubkey_tweak_mul (constant time)
//   secpAdd(a, b)               -> 33 bytes | null  secp256k1_ec_pubkey_combine (null: a + b = O)
//   secpDecode(point)           -> 65 bytes | null  secp256k1_ec_pubkey_parse (on-curve, x, y < p)
//   secpVerify(sig64, msg32, p) -> boolean          secp256k1_ecdsa_verify (refuses high s)
// null means "refused": wrong length, invalid encoding, scalar 0 or >= n, or the identity.
// Inputs are public (points, public scalars, signatures); nothing secret is passed in.
#include <secp256k1.h>

#include <cstdint>
#include <cstring>

#include <napi.h>

namespace mpc {

namespace {

// A TypeError with the code every addon error of this project carries (see bigint_io.h).
napi_value ThrowTypeError(napi_env env, const char* message) {
  Napi::Error e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_MATH_BACKEND_FAILED"));
  e.ThrowAsJavaScriptException();
  return nullptr;
}

inline Napi::Value Result(napi_env env, napi_value value) { return Napi::Value(env, value); }

// One context for the process: read-only after creation, so worker threads may share it
// (libsecp256k1 documents const-context calls as thread safe).
const secp256k1_context* Context() {
  static const secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx;
}

// Reads a Uint8Array argument (TypeError otherwise). A wrong length is not an error but a refusal,
// like an invalid encoding: *ok becomes false and the caller answers null / false.
bool ReadBytes(const Napi::CallbackInfo& info, size_t i, size_t lenA, size_t lenB, const uint8_t** data,
               size_t* len, bool* ok, const char* message) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(info.Env(), message);
    return false;
  }
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  *data = a.Data();
  *len = a.ByteLength();
  if (*len != lenA && *len != lenB) *ok = false;
  return true;
}

Napi::Value Serialize(napi_env env, const secp256k1_pubkey* pk, bool compressed) {
  size_t out = compressed ? 33 : 65;
  Napi::Uint8Array result = Napi::Uint8Array::New(env, out);
  secp256k1_ec_pubkey_serialize(Context(), result.Data(), &out, pk,
                                compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED);
  return result;
}

}  // namespace

Napi::Value SecpMul(const Napi::CallbackInfo& info) {
  const uint8_t* p = nullptr;
  const uint8_t* k = nullptr;
  size_t pLen = 0, kLen = 0;
  bool ok = true;
  if (!ReadBytes(info, 0, 33, 65, &p, &pLen, &ok, "secpMul: point must be a Uint8Array") ||
      !ReadBytes(info, 1, 32, 32, &k, &kLen, &ok, "secpMul: scalar must be a Uint8Array")) {
    return Result(info.Env(), nullptr);
  }
  if (!ok) return info.Env().Null();
  secp256k1_pubkey pk;
  if (!secp256k1_ec_pubkey_parse(Context(), &pk, p, pLen)) return info.Env().Null();
  // refuses a scalar of 0 or >= n
  if (!secp256k1_ec_pubkey_tweak_mul(Context(), &pk, k)) return info.Env().Null();
  return Serialize(info.Env(), &pk, true);
}

Napi::Value SecpAdd(const Napi::CallbackInfo& info) {
  const uint8_t* a = nullptr;
  const uint8_t* b = nullptr;
  size_t aLen = 0, bLen = 0;
  bool ok = true;
  if (!ReadBytes(info, 0, 33, 65, &a, &aLen, &ok, "secpAdd: points must be Uint8Arrays") ||
      !ReadBytes(info, 1, 33, 65, &b, &bLen, &ok, "secpAdd: points must be Uint8Arrays")) {
    return Result(info.Env(), nullptr);
  }
  if (!ok) return info.Env().Null();
  secp256k1_pubkey pa, pb, sum;
  if (!secp256k1_ec_pubkey_parse(Context(), &pa, a, aLen) || !secp256k1_ec_pubkey_parse(Context(), &pb, b, bLen)) {
    return info.Env().Null();
  }
  const secp256k1_pubkey* both[2] = {&pa, &pb};
  if (!secp256k1_ec_pubkey_combine(Context(), &sum, both, 2)) return info.Env().Null();  // a + b = O
  return Serialize(info.Env(), &sum, true);
}

Napi::Value SecpDecode(const Napi::CallbackInfo& info) {
  const uint8_t* p = nullptr;
  size_t pLen = 0;
  bool ok = true;
  if (!ReadBytes(info, 0, 33, 65, &p, &pLen, &ok, "secpDecode: point must be a Uint8Array")) {
    return Result(info.Env(), nullptr);
  }
  if (!ok) return info.Env().Null();
  secp256k1_pubkey pk;
  if (!secp256k1_ec_pubkey_parse(Context(), &pk, p, pLen)) return info.Env().Null();
  return Serialize(info.Env(), &pk, false);
}

Napi::Value SecpVerify(const Napi::CallbackInfo& info) {
  const uint8_t* sig = nullptr;
  const uint8_t* msg = nullptr;
  const uint8_t* p = nullptr;
  size_t sigLen = 0, msgLen = 0, pLen = 0;
  bool ok = true;
  if (!ReadBytes(info, 0, 64, 64, &sig, &sigLen, &ok, "secpVerify: signature must be a Uint8Array (r || s)") ||
      !ReadBytes(info, 1, 32, 32, &msg, &msgLen, &ok, "secpVerify: digest must be a Uint8Array") ||
      !ReadBytes(info, 2, 33, 65, &p, &pLen, &ok, "secpVerify: public key must be a Uint8Array")) {
    return Result(info.Env(), nullptr);
  }
  if (!ok) return Napi::Boolean::New(info.Env(), false);
  secp256k1_pubkey pk;
  secp256k1_ecdsa_signature s;
  // parse_compact refuses r or s >= n; verify refuses r = 0, s = 0 and s > n/2 (high s)
  ok = secp256k1_ec_pubkey_parse(Context(), &pk, p, pLen) &&
            secp256k1_ecdsa_signature_parse_compact(Context(), &s, sig) &&
            secp256k1_ecdsa_verify(Context(), &s, msg, &pk);
  return Napi::Boolean::New(info.Env(), ok);
}

}  // namespace mpc

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("secpMul", Napi::Function::New(env, mpc::SecpMul, "secpMul"));
  exports.Set("secpAdd", Napi::Function::New(env, mpc::SecpAdd, "secpAdd"));
  exports.Set("secpDecode", Napi::Function::New(env, mpc::SecpDecode, "secpDecode"));
  exports.Set("secpVerify", Napi::Function::New(env, mpc::SecpVerify, "secpVerify"));
  return exports;
}

}  // namespace

NODE_API_MODULE(mpc_secp256k1, Init)
