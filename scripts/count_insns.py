"""Sum the guest instructions a qemu `-d in_asm,exec,nochain` log shows executed (stdin).

in_asm prints each translated block once ("IN:" then one line per instruction, starting with
its address); exec prints a "Trace" line, with the block's guest address as the second field
inside the brackets, each time a block runs (nochain: every time). Instructions executed = sum
over blocks of (instructions in the block x times it ran). Prints that sum.
"""

import sys
from collections import Counter


def main() -> None:
    sizes: dict[int, int] = {}
    runs: Counter = Counter()
    block = None
    for line in sys.stdin.buffer:
        c = line[:1]
        if c == b"T":  # Trace 0: 0x7f.. [flags/guest_pc/...]
            i = line.find(b"[")
            if i >= 0:
                runs[line[i + 1:].split(b"/", 2)[1]] += 1
        elif c == b"0":  # 0x5504..:  d503201f  nop
            if block is None:
                block = line.split(b":", 1)[0][2:]
                sizes[int(block, 16)] = 0
            sizes[int(block, 16)] += 1
        elif c == b"I":  # IN: (a new block follows)
            block = None
    print(sum(sizes.get(int(pc, 16), 0) * n for pc, n in runs.items()))


if __name__ == "__main__":
    main()
