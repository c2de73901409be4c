"""The instruction counter behind bench/bench_arm_instructions.py's A55 estimate, on a qemu 7.2
``in_asm,exec,nochain`` log in the emulator's own format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_arm_instructions",
                                              ROOT / "bench" / "bench_arm_instructions.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

# (qemu ends "IN:" and "Trace" lines with a space; ruff keeps trailing blanks out of the file)
# two blocks (3 and 1 instructions); the first runs three times, the second once, and one block
# outside the filter (no IN: listing) is executed but not counted
LOG = """\
----------------
IN:
0x55082dbe10:  a9bf7bfd  stp      x29, x30, [sp, #-0x10]!
0x55082dbe14:  910003fd  mov      x29, sp
0x55082dbe18:  94005e77  bl       #0x55082f37f4

Trace 0: 0x7fffe978c240 [0000000000001001/00000055082dbe10/00000001/00080200]
----------------
IN:
0x55082f37f4:  f000edc0  adrp     x0, #0x550a0ae000

Trace 0: 0x7fffe978c3c0 [0000000000001001/00000055082f37f4/00000001/00080200]
Trace 0: 0x7fffe978c240 [0000000000001001/00000055082dbe10/00000001/00080200]
Trace 0: 0x7fffe978c999 [0000000000001001/0000005500000000/00000001/00080200]
Trace 0: 0x7fffe978c240 [0000000000001001/00000055082dbe10/00000001/00080200]
"""


def test_executed_blocks_are_summed_by_their_length(tmp_path):
    log = tmp_path / "qemu.log"
    log.write_text(LOG)
    assert bench.count_instructions(log) == 3 * 3 + 1


def test_a_retranslated_block_counts_with_its_new_length(tmp_path):
    log = tmp_path / "qemu.log"
    log.write_text(LOG + "----------------\nIN: \n0x55082f37f4:  f000edc0  adrp  x0, #0\n"
                   "0x55082f37f8:  f9450400  ldr  x0, [x0, #0xa08]\n\n"
                   "Trace 0: 0x7fffe978c3c0 [0000000000001001/00000055082f37f4/00000001/00080200] \n")
    assert bench.count_instructions(log) == 3 * 3 + 1 + 2
