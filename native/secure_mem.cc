// Zeroizing GMP allocator, stack burning and wiped limb buffers. See secure_mem.h for the design.
#include "secure_mem.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__APPLE__)
#include <malloc/malloc.h>
#else
#include <malloc.h>
#endif

namespace mpc {

void SecureZero(void* p, size_t n) {
  if (p == nullptr || n == 0) return;
#if defined(__APPLE__)
  memset_s(p, n, 0, n);
#else
  explicit_bzero(p, n);
#endif
}

namespace {

// The usable size of a malloc'd block: what we must wipe. Never smaller than what GMP asked for,
// and independent of the size GMP passes back to free/realloc.
size_t BlockSize(void* p, size_t gmp_size) {
#if defined(__APPLE__)
  size_t usable = malloc_size(p);
#else
  size_t usable = malloc_usable_size(p);
#endif
  return usable != 0 ? usable : gmp_size;
}

[[noreturn]] void OutOfMemory(size_t n) {
  // GMP has no way to report allocation failure to its caller; its own allocator aborts too.
  std::fprintf(stderr, "mpc_math: GMP allocation of %zu bytes failed\n", n);
  std::abort();
}

void* ZeroizingAlloc(size_t n) {
  void* p = std::malloc(n);
  if (p == nullptr) OutOfMemory(n);
  return p;
}

void ZeroizingFree(void* p, size_t n) {
  if (p == nullptr) return;
  SecureZero(p, BlockSize(p, n));
  std::free(p);
}

// Never realloc() in place: that could leave a copy of the old limbs in freed memory.
void* ZeroizingRealloc(void* p, size_t old_n, size_t new_n) {
  void* q = ZeroizingAlloc(new_n);
  if (p != nullptr) {
    size_t keep = old_n < new_n ? old_n : new_n;
    size_t have = BlockSize(p, old_n);
    if (keep > have) keep = have;
    std::memcpy(q, p, keep);
    ZeroizingFree(p, old_n);
  }
  return q;
}

std::once_flag install_once;

}  // namespace

void InstallZeroizingAllocator() {
  // Process-wide: every worker thread loads this addon, only the first installs. These functions
  // are built on malloc/free, so blocks allocated earlier by GMP's defaults are freed correctly.
  std::call_once(install_once, [] { mp_set_memory_functions(ZeroizingAlloc, ZeroizingRealloc, ZeroizingFree); });
}

namespace {

template <size_t kBytes>
__attribute__((noinline)) void BurnStackBytes() {
  unsigned char area[kBytes];
  SecureZero(area, sizeof area);
  // Keeps the buffer (and so the frame) alive in the compiler's eyes.
  __asm__ __volatile__("" : : "r"(area) : "memory");
}

}  // namespace

void BurnStack() { BurnStackBytes<kBurnStackBytes>(); }

void BurnStackFor(size_t operand_limbs) {
  size_t bytes = 16 * operand_limbs * sizeof(mp_limb_t);
  if (bytes <= 4 * 1024) {
    BurnStackBytes<4 * 1024>();
  } else if (bytes <= 16 * 1024) {
    BurnStackBytes<16 * 1024>();
  } else {
    BurnStackBytes<kBurnStackBytes>();
  }
}

SecureLimbs::SecureLimbs(size_t limbs) : data_(nullptr), limbs_(limbs) {
  size_t bytes = (limbs == 0 ? 1 : limbs) * sizeof(mp_limb_t);
  data_ = static_cast<mp_limb_t*>(std::calloc(1, bytes));
  if (data_ == nullptr) OutOfMemory(bytes);
}

SecureLimbs::~SecureLimbs() {
  SecureZero(data_, (limbs_ == 0 ? 1 : limbs_) * sizeof(mp_limb_t));
  std::free(data_);
}

}  // namespace mpc
