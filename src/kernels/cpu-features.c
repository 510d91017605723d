/* CPU feature detection for the kernel dispatch: CPUID says what the core
 * implements, XCR0 says whether the OS saves the wider registers, and AMX
 * additionally needs the per-process permission from arch_prctl (Linux >=
 * 5.16). A feature is reported only when all three agree. */
#include "qgemm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QL_X86 1
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static unsigned g_features;
static ql_isa g_best = QL_ISA_SCALAR;

static const char *const g_names[QL_ISA_COUNT] = {"scalar", "avx2", "avxvnni", "avx512vnni", "amx"};

#ifdef QL_X86
static uint64_t read_xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

/* Without this the first tile instruction faults (SIGILL): Linux keeps the
 * 8 KiB tile state out of the signal frame until a process asks for it. */
static int request_amx_permission(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
  const long ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
  unsigned long bits = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 && (bits & (1ul << XFEATURE_XTILEDATA)))
    return 1;
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
  bits = 0;
  return syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) == 0 && (bits & (1ul << XFEATURE_XTILEDATA));
#else
  return 0;
#endif
}

static unsigned detect(void) {
  unsigned a, b, c, d, f = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
  unsigned max_leaf = a;
  if (max_leaf < 7) return 0;
  __cpuid(1, a, b, c, d);
  int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return 0;
  uint64_t xcr0 = read_xcr0();
  int os_ymm = (xcr0 & 0x6) == 0x6;              /* SSE + AVX state */
  int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  /* opmask, ZMM_Hi256, Hi16_ZMM */
  int os_tile = (xcr0 & 0x60000) == 0x60000;     /* XTILECFG, XTILEDATA */
  unsigned b7, c7, d7, a71 = 0;
  __cpuid_count(7, 0, a, b7, c7, d7);
  if (a >= 1) {
    unsigned t1, t2, t3;
    __cpuid_count(7, 1, a71, t1, t2, t3);
  }
  if (!os_ymm) return 0;
  if ((b7 >> 5) & 1) f |= QL_CPU_AVX2;
  if (fma) f |= QL_CPU_FMA;
  if ((f & QL_CPU_AVX2) && ((a71 >> 4) & 1)) f |= QL_CPU_AVXVNNI;
  int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1); /* F DQ BW VL */
  if (os_zmm && avx512) {
    f |= QL_CPU_AVX512;
    if ((c7 >> 11) & 1) f |= QL_CPU_AVX512VNNI;
    if ((c7 >> 1) & 1) f |= QL_CPU_AVX512VBMI;
  }
  int amx_tile = (d7 >> 24) & 1, amx_int8 = (d7 >> 25) & 1;
  if ((f & QL_CPU_AVX512VNNI) && os_tile && amx_tile && amx_int8 && request_amx_permission())
    f |= QL_CPU_AMX_INT8;
  return f;
}
#else
static unsigned detect(void) { return 0; }
#endif

static int supported(unsigned f, ql_isa isa) {
  switch (isa) {
  case QL_ISA_SCALAR: return 1;
  case QL_ISA_AVX2: return (f & (QL_CPU_AVX2 | QL_CPU_FMA)) == (QL_CPU_AVX2 | QL_CPU_FMA);
  case QL_ISA_AVXVNNI: return supported(f, QL_ISA_AVX2) && (f & QL_CPU_AVXVNNI);
  case QL_ISA_AVX512VNNI: return (f & QL_CPU_AVX512VNNI) && (f & QL_CPU_FMA);
  case QL_ISA_AMX: return (f & QL_CPU_AMX_INT8) && supported(f, QL_ISA_AVX512VNNI);
  default: return 0;
  }
}

static void init(void) {
  g_features = detect();
  ql_isa cap = QL_ISA_AMX;
  const char *env = getenv("QL_ISA");
  if (env && *env) {
    ql_isa e = ql_isa_from_name(env);
    if (e != QL_ISA_AUTO) cap = e;
  }
  g_best = QL_ISA_SCALAR;
  for (int i = (int)cap; i > 0; i--) {
    /* AVX-VNNI is a 256-bit subset: prefer the AVX-512 kernels above it, but
     * a cap of avxvnni must not pick them */
    if (supported(g_features, (ql_isa)i)) {
      g_best = (ql_isa)i;
      break;
    }
  }
}

unsigned ql_cpu_features(void) {
  pthread_once(&g_once, init);
  return g_features;
}

int ql_isa_supported(ql_isa isa) { return supported(ql_cpu_features(), isa); }

ql_isa ql_isa_best(void) {
  pthread_once(&g_once, init);
  return g_best;
}

const char *ql_isa_name(ql_isa isa) {
  return isa >= 0 && isa < QL_ISA_COUNT ? g_names[isa] : "auto";
}

ql_isa ql_isa_from_name(const char *name) {
  for (int i = 0; i < QL_ISA_COUNT; i++)
    if (name && strcmp(name, g_names[i]) == 0) return (ql_isa)i;
  return QL_ISA_AUTO;
}
