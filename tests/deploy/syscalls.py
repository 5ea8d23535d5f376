#!/usr/bin/env python3
"""syscalls.py - check what a node did under strace against a systemd unit's sandbox.

    syscalls.py UNIT STRACE_FILE...

Reads UNIT's SystemCallFilter= lines (an allow list, then ~deny lists) and
RestrictAddressFamilies=, expands the @groups with `systemd-analyze
syscall-filter` (this host's systemd), and reports every system call the
traced processes made that the filter would refuse, every socket family
outside the allowed ones, and every mapping that MemoryDenyWriteExecute=yes
would refuse (writable+executable, or PROT_EXEC added by mprotect).
Prints one line per finding and exits 1 if there is any.
"""
import re
import subprocess
import sys


def groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    g, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.strip()
            g[cur] = set()
        elif cur and line.strip() and not line.strip().startswith("#"):
            g[cur].add(line.strip())
    return g


def expand(name, g, seen=None):
    seen = seen or set()
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for m in g.get(name, ()):
        out |= expand(m, g, seen)
    return out


def main():
    unit, traces = sys.argv[1], sys.argv[2:]
    g = groups()
    allow, deny, families, mdwe = None, set(), None, False
    for line in open(unit):
        line = line.strip()
        if line.startswith("SystemCallFilter="):
            v = line.split("=", 1)[1]
            if v.startswith("~"):
                for n in v[1:].split():
                    deny |= expand(n, g)
            else:
                allow = allow or set()
                for n in v.split():
                    allow |= expand(n, g)
        elif line.startswith("RestrictAddressFamilies="):
            families = set(line.split("=", 1)[1].split())
        elif line == "MemoryDenyWriteExecute=yes":
            mdwe = True
    if allow is None or families is None or not mdwe:
        print(f"{unit}: no SystemCallFilter allow list, RestrictAddressFamilies or "
              "MemoryDenyWriteExecute=yes to check")
        return 1
    allow |= expand("@default", g)  # always allowed by systemd
    used, fams, bad = {}, set(), []
    call = re.compile(r"^\d+\s+([a-z0-9_]+)\((.*)")
    for t in traces:
        for line in open(t, errors="replace"):
            m = call.match(line)
            if not m:
                continue
            name, args = m.group(1), m.group(2)
            used[name] = used.get(name, 0) + 1
            if name == "socket":
                fams.add(args.split(",")[0].strip())
            if name in ("mmap", "mprotect", "pkey_mprotect"):
                if "PROT_WRITE|PROT_EXEC" in args or (name != "mmap" and "PROT_EXEC" in args):
                    bad.append(f"MemoryDenyWriteExecute would refuse: {line.strip()[:160]}")
    for name in sorted(used):
        if name not in allow or name in deny:
            bad.append(f"SystemCallFilter would refuse {name} (called {used[name]} times)")
    for f in sorted(fams - families):
        bad.append(f"RestrictAddressFamilies would refuse socket({f}, ...)")
    for b in bad:
        print(b)
    print(f"{len(used)} distinct system calls, socket families {sorted(fams)}: "
          f"{'all allowed' if not bad else f'{len(bad)} refused'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
