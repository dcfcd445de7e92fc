/* The pattern in tract 0.23.9's AVX2 int8 matrix kernel (avx2_mmm_i32_8x8): a legacy-SSE `movq`
 * load into an xmm register inside a loop of 256-bit VEX instructions, against the same loop with
 * the VEX `vmovq`. Where the first is much slower, the CPU (or its hypervisor) pays an SSE/AVX
 * transition on every step, and tract's int8 path is slow there (README, "Speed").
 *   cc -O2 scripts/sse_avx_stall.c -o target/sse_avx_stall && target/sse_avx_stall
 * x86-64 with AVX2 only. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static int8_t buf[64] __attribute__((aligned(64)));

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    const long n = 10000000;
    double t0 = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("movq (%0), %%xmm8\n\t"
                         "vpmovsxbw %%xmm8, %%ymm8\n\t"
                         "vpbroadcastb (%0), %%ymm9\n\t"
                         "vpmullw %%ymm9, %%ymm8, %%ymm9\n\t"
                         "vpaddd %%ymm9, %%ymm0, %%ymm0\n\t" ::"r"(buf)
                         : "xmm0", "xmm8", "xmm9");
    double t1 = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("vmovq (%0), %%xmm8\n\t"
                         "vpmovsxbw %%xmm8, %%ymm8\n\t"
                         "vpbroadcastb (%0), %%ymm9\n\t"
                         "vpmullw %%ymm9, %%ymm8, %%ymm9\n\t"
                         "vpaddd %%ymm9, %%ymm0, %%ymm0\n\t" ::"r"(buf)
                         : "xmm0", "xmm8", "xmm9");
    double t2 = now();
    printf("legacy-SSE movq: %.2f ns per step; VEX vmovq: %.2f ns per step\n",
           (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9);
    return 0;
}
