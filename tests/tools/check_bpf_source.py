#!/usr/bin/env python3
"""Rules for the BPF sources that the compiler does not enforce (a ctest, bpf_source_rules):
- no __builtin_offsetof: an offset must be a CO-RE relocation (bpf_core_field_offset), or it is a
  constant of the vmlinux.h the object was built against;
- kernel-version differences (type flavours `struct x___suffix`, bpf_core_field_exists /
  bpf_core_type_exists probes) live in bpf/include/core_fixes.bpf.h only, each naming the kernel
  change it bridges ("Linux N.M").
Usage: check_bpf_source.py BPF_DIR"""

import pathlib
import re
import sys

FIXES = "core_fixes.bpf.h"


def main(root):
    root = pathlib.Path(root)
    problems = []
    sources = sorted(p for p in root.rglob("*") if p.suffix in (".c", ".h") and "vmlinux" not in p.parts)
    for path in sources:
        text = path.read_text()
        code = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
        for number, line in enumerate(code.splitlines(), 1):
            where = f"{path.relative_to(root)}:{number}"
            if "__builtin_offsetof" in line or re.search(r"\boffsetof\s*\(", line):
                problems.append(f"{where}: a constant offset; use bpf_core_field_offset")
            if path.name != FIXES and (re.search(r"\bstruct\s+\w+___\w+", line) or
                                       re.search(r"bpf_core_(field|type|enum_value)_exists", line)):
                problems.append(f"{where}: a kernel-version fix outside include/{FIXES}")
        if path.name == FIXES:
            flavours = re.findall(r"struct\s+(\w+___\w+)\s*\{", code)
            for flavour in flavours:
                block = text[:text.index(flavour)]
                comment = block[block.rfind("/*"):]
                if not re.search(r"Linux \d+\.\d+", comment):
                    problems.append(f"include/{FIXES}: {flavour} does not name the kernel change (Linux N.M)")
    if not sources:
        problems.append(f"no BPF sources under {root}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bpf"))
