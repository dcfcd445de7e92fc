/* Sum the guest instructions a qemu `-d in_asm,exec,nochain` log shows executed (stdin).
 * in_asm prints each translated block once ("IN:" then one line per instruction, starting with
 * its address); exec prints a "Trace" line, with the block's guest address as the second field
 * inside the brackets, each time a block runs (nochain: every time). Each Trace line adds the
 * size of the block most recently translated at that address. Prints the sum; with
 * `-d strace` in the log too, also the running sum at each `getppid` system call (a marker
 * `moodkiosk bench` makes with MOODKIOSK_COUNT_MARKERS set), one number per line, the total last.
 * In C because the log runs to billions of lines: a Python loop was the bottleneck (qemu waited
 * on it). Built by scripts/arm-count.sh with the system C compiler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t *keys;
static uint32_t *vals;
static size_t cap = 1 << 20, used;

static size_t slot(uint64_t k) {
  size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
  while (keys[i] && keys[i] != k) i = (i + 1) & (cap - 1);
  return i;
}

static void grow(void) {
  uint64_t *ok = keys;
  uint32_t *ov = vals;
  size_t oc = cap;
  cap *= 2;
  keys = calloc(cap, sizeof *keys);
  vals = calloc(cap, sizeof *vals);
  if (!keys || !vals) { perror("calloc"); exit(1); }
  for (size_t i = 0; i < oc; i++)
    if (ok[i]) { size_t j = slot(ok[i]); keys[j] = ok[i]; vals[j] = ov[i]; }
  free(ok);
  free(ov);
}

int main(void) {
  keys = calloc(cap, sizeof *keys);
  vals = calloc(cap, sizeof *vals);
  if (!keys || !vals) { perror("calloc"); return 1; }
  static char line[4096];
  uint64_t total = 0, block = 0;
  int in_block = 0;
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'T') { /* Trace 0: 0x7f.. [flags/guest_pc/...] */
      char *p = strchr(line, '[');
      if (!p || !(p = strchr(p, '/'))) continue;
      uint64_t pc = strtoull(p + 1, NULL, 16);
      size_t i = slot(pc);
      if (keys[i]) total += vals[i];
    } else if (line[0] == '0' && line[1] == 'x') { /* 0x5504..:  d503201f  nop */
      if (!in_block) {
        block = strtoull(line + 2, NULL, 16);
        in_block = 1;
        if (2 * (used + 1) > cap) grow();
        size_t i = slot(block);
        if (!keys[i]) { keys[i] = block; used++; }
        vals[i] = 0;
      }
      vals[slot(block)]++;
    } else if (line[0] == 'I') { /* IN: (a new block follows) */
      in_block = 0;
    } else if (strstr(line, " getppid(")) { /* strace: "PID getppid() = ..." */
      printf("%llu\n", (unsigned long long)total);
    }
  }
  printf("%llu\n", (unsigned long long)total);
  return 0;
}
