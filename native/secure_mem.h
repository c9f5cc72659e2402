// Zeroization for the native math core.
//
// How secret-derived limbs are wiped (the project's rule: zero scratch before it is freed):
//
// 1. Every heap block GMP frees goes through ZeroizingFree (installed once per process with
//    mp_set_memory_functions by InstallZeroizingAllocator): the whole block, as large as the C
//    library says it is (malloc_usable_size), is overwritten with explicit_bzero before free().
//    This covers what an mpz_t-level wipe cannot: blocks GMP drops when it grows a variable
//    (realloc), and GMP's internal heap temporaries (TMP_ALLOC above ~32 KiB, e.g. powm tables).
// 2. Every mpz_t we own lives in an `Mpz` (bigint_io.h) whose destructor wipes all _mp_alloc
//    limbs before mpz_clear, so a value is gone even if the allocator in force were not ours.
// 3. Our own limb buffers are `SecureLimbs`, wiped before free.
// 4. GMP puts small temporaries (< ~32 KiB each) on the stack with alloca. After each call that
//    may have handled secret data we overwrite the stack area below our frame (BurnStack), the
//    approach of libsodium's sodium_stackzero. This is best effort: registers and the inputs and
//    outputs held by V8 as BigInt values are outside our reach (documented in the TS shell).
#ifndef MPC_NATIVE_SECURE_MEM_H_
#define MPC_NATIVE_SECURE_MEM_H_

#include <gmp.h>

#include <cstddef>

namespace mpc {

/** Overwrites n bytes with zeros in a way the compiler may not elide. */
void SecureZero(void* p, size_t n);

/** Routes GMP's allocations through the zeroizing allocator. Idempotent and thread-safe. */
void InstallZeroizingAllocator();

/** Bytes of stack BurnStack() overwrites: twice GMP's per-call alloca limit (0x7f00 bytes), for
 *  nested frames. Used after exponentiations and prime tests, where it costs < 0.1 %. */
constexpr size_t kBurnStackBytes = 64 * 1024;

/** Overwrites kBurnStackBytes of the stack below the caller's frame. */
void BurnStack();

/**
 * For cheap operations (mulMod, gcd, invMod, jacobi), where a 64 KiB wipe would cost more than the
 * arithmetic: overwrites 16x the operands' size (GMP's scratch for a product, a division or an
 * extended gcd is a small multiple of it), rounded up to 4, 16 or 64 KiB.
 */
void BurnStackFor(size_t operand_limbs);

/** A fixed-size limb buffer from the heap, zeroed on construction and wiped before it is freed. */
class SecureLimbs {
 public:
  explicit SecureLimbs(size_t limbs);
  ~SecureLimbs();
  SecureLimbs(const SecureLimbs&) = delete;
  SecureLimbs& operator=(const SecureLimbs&) = delete;

  mp_limb_t* data() { return data_; }
  size_t size() const { return limbs_; }

 private:
  mp_limb_t* data_;
  size_t limbs_;
};

}  // namespace mpc

#endif  // MPC_NATIVE_SECURE_MEM_H_
