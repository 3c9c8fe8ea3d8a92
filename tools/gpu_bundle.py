#!/usr/bin/env python3
"""The GPU bundle's library work (ci/gpu_bundle.sh, ci/gpu_check.sh; docs/gpu_check.md).

  gpu_bundle.py carry BUNDLE            copy into BUNDLE/lib every shared library the binaries in
                                        BUNDLE/bin need that the target will not have
  gpu_bundle.py stubs BUNDLE            build stand-ins for the target's CUDA libraries (used only
                                        where the target lacks one: every call fails with a message)
  gpu_bundle.py manifest BUNDLE ...     write BUNDLE/manifest.json
  gpu_bundle.py check BUNDLE            the library check: ldd every binary with the bundle's search
                                        path; exit 1 if a library other than the target's CUDA ones
                                        is missing, or the target's glibc is older than the bundle needs

What the target will not have is decided from the binaries (readelf's NEEDED entries, resolved by
ldd), with two rules: glibc's own libraries are never carried (the target has a newer glibc; the
bundle records the newest GLIBC_ symbol version it needs and the check compares), and the CUDA
libraries in TARGET_PROVIDED come from the target's toolkit or PyTorch wheels (too large to carry;
ci/gpu_check.sh finds them). Everything else that is NEEDED is carried, with what it needs in turn.
Uses only the standard library, ldd and (here, not on the target) readelf and objdump.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

# glibc's libraries: the target's own (newer) copies are used.
GLIBC = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1",
         "libresolv.so.2", "ld-linux-x86-64.so.2", "linux-vdso.so.1"}
# The CUDA libraries the target provides (toolkit or PyTorch's nvidia/*/lib): hundreds of MB each.
TARGET_PROVIDED = {"libcublasLt.so.13": "cublas", "libcublas.so.13": "cublas", "libnccl.so.2": "nccl",
                   "libcudart.so.13": "cuda_runtime", "libnvidia-ml.so.1": None, "libcuda.so.1": None}
# What a stub's functions return: cuBLAS's CUBLAS_STATUS_NOT_INITIALIZED, NCCL's ncclSystemError.
STUB_ERROR = {"libcublasLt.so.13": 1, "libcublas.so.13": 1, "libnccl.so.2": 2}
# Symbol versions a stub must define (cuBLASLt's symbols are versioned by its soname).
STUB_VERSIONED = {"libcublasLt.so.13", "libcublas.so.13"}


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def needed(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def ldd(path, env=None):
    """{soname: resolved path or None} as ldd reports it (transitive)."""
    r = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env)
    found = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (not found|(\S+) \(0x[0-9a-f]+\))", line)
        if m:
            found[m.group(1)] = None if m.group(2) == "not found" else m.group(3)
    return found


def binaries(bundle):
    return sorted(p for p in (bundle / "bin").iterdir() if p.is_file() and is_elf(p))


def carry(bundle):
    lib = bundle / "lib"
    lib.mkdir(exist_ok=True)
    todo = [(b, n) for b in binaries(bundle) for n in needed(b)]
    carried, provided, system = {}, set(), set()
    while todo:
        owner, name = todo.pop()
        if name in GLIBC:
            system.add(name)
            continue
        if name in TARGET_PROVIDED:
            provided.add(name)
            continue
        if name in carried:
            continue
        src = ldd(owner).get(name)
        if src is None:
            sys.exit(f"gpu_bundle carry: {owner.name} needs {name}, which ldd cannot resolve here")
        shutil.copy2(os.path.realpath(src), lib / name)
        carried[name] = src
        todo += [(lib / name, n) for n in needed(lib / name)]
    for name, src in sorted(carried.items()):
        print(f"  carried   {name:24} from {src}")
    for name in sorted(provided):
        print(f"  target    {name:24} (the target's CUDA toolkit or PyTorch wheels)")
    print(f"  system    {', '.join(sorted(system))} (glibc: the target's own)")
    return {"carried": carried, "target_provided": sorted(provided), "system": sorted(system)}


def glibc_required(bundle):
    newest = (0, 0)
    for p in binaries(bundle) + sorted((bundle / "lib").glob("*")):
        out = subprocess.run(["objdump", "-T", str(p)], capture_output=True, text=True, check=True).stdout
        for v in re.findall(r"GLIBC_([0-9]+)\.([0-9]+)", out):
            newest = max(newest, (int(v[0]), int(v[1])))
    return f"{newest[0]}.{newest[1]}"


def stubs(bundle):
    """One stand-in per target-provided library the binaries call into: each function returns the
    library's error code (or, for names of strings, a message), so a host without it still runs
    everything that does not need it and every row that does says why."""
    out_dir = bundle / "stubs"
    out_dir.mkdir(exist_ok=True)
    wanted = {}
    for b in binaries(bundle):
        table = subprocess.run(["objdump", "-T", str(b)], capture_output=True, text=True, check=True).stdout
        for line in table.splitlines():
            m = re.match(r"\S+\s+DF \*UND\*\s+\S+\s+(?:\((\S+)\)|Base)\s+(\S+)$", line.strip())
            if not m:
                continue
            sym = m.group(2)
            lib = "libcublasLt.so.13" if sym.startswith("cublasLt") else "libnccl.so.2" if sym.startswith("nccl") else None
            if lib:
                wanted.setdefault(lib, set()).add(sym)
    made = []
    for lib, syms in sorted(wanted.items()):
        msg = f"{lib} was not found on this host: dsbench's stand-in fails every call (docs/gpu_check.md)"
        src = ["/* Generated by tools/gpu_bundle.py: a stand-in for " + lib + ". */", "#include <stddef.h>"]
        for s in sorted(syms):
            if re.search(r"(String|Name|LastError)$", s):
                src.append(f'const char* {s}(void) {{ return "{msg}"; }}')
            elif s.endswith("GetVersion") and lib.startswith("libcublas"):
                src.append(f"size_t {s}(void) {{ return 0; }}")
            else:
                src.append(f"int {s}(void) {{ return {STUB_ERROR[lib]}; }}")
        c = out_dir / (lib + ".c")
        c.write_text("\n".join(src) + "\n")
        cmd = ["cc", "-shared", "-fPIC", "-O1", f"-Wl,-soname,{lib}", "-o", str(out_dir / lib), str(c)]
        if lib in STUB_VERSIONED:
            vs = out_dir / (lib + ".map")
            vs.write_text(lib + " { global: *; };\n")
            cmd.insert(1, f"-Wl,--version-script={vs}")
        subprocess.run(cmd, check=True)
        c.unlink()
        if lib in STUB_VERSIONED:
            (out_dir / (lib + ".map")).unlink()
        made.append(lib)
        print(f"  stub      {lib:24} {len(syms)} functions")
    return made


def manifest(bundle, args, libs):
    files = {}
    for p in sorted(bundle.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            files[str(p.relative_to(bundle))] = p.stat().st_size
    cache = json.loads(pathlib.Path(args.cmake_cache_json).read_text()) if args.cmake_cache_json else {}
    doc = {
        "what": "dsbench GPU bundle (ci/gpu_bundle.sh); run it with ci/gpu_check.sh BUNDLE OUT (docs/gpu_check.md)",
        "git_commit": args.commit, "git_dirty": args.dirty == "1", "built_at": args.built_at,
        "compiler": args.compiler, "cuda_version": args.cuda_version, "flags": cache,
        "seed": int(args.seed), "glibc_required": glibc_required(bundle), "libraries": libs,
        "files": files, "total_bytes": sum(files.values()),
    }
    (bundle / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")


def check(bundle, lib_path):
    """The library check, here or on the target. Returns the exit code."""
    env = dict(os.environ)
    search = [str(bundle / "lib")] + lib_path
    env["LD_LIBRARY_PATH"] = ":".join(search + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
    m = json.loads((bundle / "manifest.json").read_text())
    code = 0
    have = re.search(r"([0-9]+)\.([0-9]+)\s*$", subprocess.run(["ldd", "--version"], capture_output=True,
                                                                 text=True).stdout.splitlines()[0])
    need = tuple(int(x) for x in m["glibc_required"].split("."))
    got = (int(have.group(1)), int(have.group(2))) if have else (0, 0)
    print(f"glibc: this host has {got[0]}.{got[1]}, the bundle needs {m['glibc_required']}")
    if got < need:
        print("library check: FAILED: this host's glibc is older than the bundle needs")
        code = 1
    target_missing = set()
    for b in binaries(bundle):
        for name, where in sorted(ldd(b, env).items()):
            if where is not None:
                continue
            if name in TARGET_PROVIDED:
                target_missing.add(name)
            else:
                print(f"library check: FAILED: {b.name} needs {name}, which is neither carried nor found")
                code = 1
    for name in sorted(target_missing):
        print(f"library check: {name} (the target's) not found in {':'.join(search)}")
    print("library check: " + ("passed" if code == 0 else "FAILED") +
          (f" ({len(target_missing)} target CUDA libraries missing: see above)" if target_missing else ""))
    return code


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("carry", "stubs", "check", "manifest"):
        p = sub.add_parser(name)
        p.add_argument("bundle", type=pathlib.Path)
        if name == "check":
            p.add_argument("--lib-path", action="append", default=[], help="another folder to search")
        if name == "manifest":
            for opt in ("commit", "dirty", "built-at", "compiler", "cuda-version", "seed", "libs-json",
                        "cmake-cache-json"):
                p.add_argument("--" + opt, required=opt != "cmake-cache-json")
    args = ap.parse_args()
    bundle = args.bundle.resolve()
    if args.cmd == "carry":
        libs = carry(bundle)
        (bundle / ".libs.json").write_text(json.dumps(libs))
    elif args.cmd == "stubs":
        stubs(bundle)
    elif args.cmd == "manifest":
        libs = json.loads(pathlib.Path(args.libs_json).read_text())
        manifest(bundle, args, libs)
    else:
        return check(bundle, args.lib_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
