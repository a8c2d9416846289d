#!/usr/bin/env python3
"""Compare the layout of every type umach's public Mach headers declare with Apple's.

umach's side: every typedef, struct and union declared in include/mach/*.h and
include/servers/*.h, found in clang's AST of a file that includes them all; the values come
from gcc (Linux x86_64), the compiler umach is built with. Apple's side: the same names in
the SDK headers zig ships (with darwin-check's sdk-extra after them), for aarch64-macos and
x86_64-macos. zig cannot run a Mach-O, so every value is a constant the compiler writes into
its assembly output (zig cc -S): one file of constants is compiled three times and the
numbers compared.

Compared for each type both sides declare: sizeof, _Alignof, whether an integer type is
signed; for each struct or union (anonymous members flattened, unnamed nested structs
followed), the set of field names, each field's offset and size, and for a bit-field the
bits it occupies (from a constant whose bit-field is all ones). A type umach declares and
Apple's headers do not must be listed, with the reason, in scripts/abi-umach-only.txt; a
listed type that Apple's headers do declare is an error too, so the list cannot go stale.

Usage: abi-layout.py ROOT ZIG OUTDIR SDK_EXTRA_DIR
Exits 1 and prints every difference when there is one.
"""

import json
import os
import re
import subprocess
import sys

TARGETS = ("aarch64-macos", "x86_64-macos")
SUGAR = ("ElaboratedType", "TypedefType", "ParenType", "QualType", "AttributedType",
         "MacroQualifiedType")


def run(cmd, ast=False):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # zig cc, asked only for clang's AST, then looks for an object file that was never made.
    benign = ast and all("unable to build C object: FileNotFound" in line
                         for line in p.stderr.splitlines())
    if p.returncode != 0 and not benign:
        sys.stderr.write(p.stderr[-20000:])
        raise SystemExit("abi-layout: failed: " + " ".join(cmd[:6]) + " ...")
    return p.stdout


class Ast:
    """The typedefs, tagged records and record fields of one translation unit."""

    def __init__(self, text, keep_file):
        self.keep_file = keep_file
        self.cur_file = None
        self.typedefs = {}   # name -> (kind, record id or None)
        self.tags = {}       # "struct x" -> record id
        self.records = {}    # id -> list of fields
        self.complete = set()
        self.anon_types = {}  # record id -> record id (same), for unnamed nested records
        self.visit(json.loads(text), None)

    def note_loc(self, loc):
        """Follows clang's JSON, which names a file only where it changes."""
        if not isinstance(loc, dict):
            return
        if "spellingLoc" in loc:
            self.note_loc(loc["spellingLoc"])
        if "expansionLoc" in loc:
            self.note_loc(loc["expansionLoc"])
        if "file" in loc:
            self.cur_file = loc["file"]

    def visit(self, node, parent):
        self.note_loc(node.get("loc"))
        here = self.cur_file
        rng = node.get("range")
        if isinstance(rng, dict):
            self.note_loc(rng.get("begin"))
            self.note_loc(rng.get("end"))
        kind = node.get("kind")
        keep = here is not None and self.keep_file(here)
        if kind == "TypedefDecl" and keep and not node.get("isImplicit"):
            self.typedefs[node["name"]] = self.type_of(node)
        elif kind == "RecordDecl":
            if node.get("completeDefinition"):
                self.complete.add(node["id"])
                self.records[node["id"]] = self.fields_of(node)
            if keep and node.get("name"):
                tag = node.get("tagUsed", "struct") + " " + node["name"]
                if node.get("completeDefinition") or tag not in self.tags:
                    self.tags[tag] = node["id"]
        for child in node.get("inner", []):
            if isinstance(child, dict):
                self.visit(child, node)

    def type_of(self, typedef):
        """(kind, record id) of what a typedef names, through sugar."""
        t = typedef.get("inner", [None])[0]
        while t is not None and t.get("kind") in SUGAR:
            inner = t.get("inner")
            if t.get("kind") == "ElaboratedType" and t.get("ownedTagDecl") and not inner:
                break
            t = inner[0] if inner else None
        if t is None:
            return ("unknown", None)
        k = t["kind"]
        if k == "RecordType":
            return ("record", t["decl"]["id"])
        if k == "EnumType":
            return ("integer", None)
        if k == "BuiltinType":
            q = t["type"]["qualType"]
            if q in ("float", "double", "long double"):
                return ("float", None)
            if q == "void":
                return ("void", None)
            return ("integer", None)
        if k == "PointerType":
            return ("pointer", None)
        if k == "ConstantArrayType":
            return ("array", None)
        if k in ("FunctionProtoType", "FunctionNoProtoType"):
            return ("function", None)
        if k == "IncompleteArrayType":
            return ("incomplete", None)
        return (k, None)

    def fields_of(self, rec):
        """Fields in order: (name, is_bitfield, nested record id or None, flexible)."""
        out = []
        pending = None
        for c in rec.get("inner", []):
            k = c.get("kind")
            if k == "RecordDecl" and not c.get("name"):
                pending = c["id"]
            elif k == "FieldDecl":
                q = c.get("type", {}).get("qualType", "")
                nested = None
                if pending is not None and ("(anonymous" in q or "(unnamed" in q):
                    nested = pending
                pending = None
                out.append((c.get("name", ""), bool(c.get("isBitfield")), nested,
                            q.endswith("[]")))
        return out

    def paths(self, rid, prefix=""):
        """Every field's designator path, anonymous members flattened, unnamed records
        followed: [(path, is_bitfield, flexible)]."""
        out = []
        for name, bit, nested, flex in self.records.get(rid, []):
            if nested is not None:
                sub = prefix + name + "." if name else prefix
                out.extend(self.paths(nested, sub))
            elif name:
                out.append((prefix + name, bit, flex))
        return out

    def layout_of(self, spelled):
        """(kind, fields) of a type spelled as a typedef name or 'struct x'."""
        if spelled in self.typedefs:
            kind, rid = self.typedefs[spelled]
        elif spelled in self.tags:
            kind, rid = "record", self.tags[spelled]
        else:
            return None
        if kind == "record":
            if rid not in self.complete:
                return ("incomplete", [])
            return ("record", self.paths(rid))
        return (kind, [])


def ast_of(cmd, src, keep_file):
    return Ast(run(cmd + ["-fsyntax-only", "-Xclang", "-ast-dump=json", src], ast=True),
               keep_file)


def parse_asm(text, arch):
    """label -> list of bytes of its data (little-endian), from gcc's or clang's -S."""
    sizes = {".byte": 1, ".short": 2, ".value": 2, ".2byte": 2, ".hword": 2, ".long": 4,
             ".int": 4, ".4byte": 4, ".quad": 8, ".8byte": 8, ".xword": 8, ".dword": 8,
             ".word": 4 if arch == "aarch64" else 2}
    data = {}
    cur = None
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r"^_?(abi_[a-z]+_\d+):", s)
        if m:
            cur = m.group(1)
            data[cur] = []
            continue
        if cur is None or not s:
            continue
        if s.endswith(":") or not s.startswith("."):
            cur = None
            continue
        parts = s.split(None, 1)
        d = parts[0]
        if d in sizes:
            v = int(re.split(r"[#;]|//", parts[1])[0].strip(), 0)
            data[cur].extend((v & ((1 << (8 * sizes[d])) - 1)).to_bytes(sizes[d], "little"))
        elif d in (".zero", ".space"):
            data[cur].extend([0] * int(re.split(r"[#;,]|//", parts[1])[0].strip(), 0))
        elif d in (".section", ".globl", ".p2align", ".align", ".type", ".size", ".text",
                   ".data", ".const", ".ident", ".file", ".build_version", ".subsections_via_symbols"):
            cur = None if d not in (".p2align", ".align") else cur
        else:
            cur = None
    return data


def value_of(data, label):
    b = data.get(label)
    if b is None:
        raise SystemExit("abi-layout: no constant %s in the assembly" % label)
    return int.from_bytes(bytes(b[:8]), "little", signed=True)


def bits_of(data, label):
    b = data.get(label)
    if b is None:
        raise SystemExit("abi-layout: no constant %s in the assembly" % label)
    v = int.from_bytes(bytes(b), "little")
    return [i for i in range(8 * len(b)) if v >> i & 1]


def describe_bits(bits):
    if not bits:
        return "none"
    if bits == list(range(bits[0], bits[-1] + 1)):
        return "bits %d-%d" % (bits[0], bits[-1])
    return "bits " + ",".join(map(str, bits))


def compare(arch, ours, apple, ours_cc, apple_cc, includes, out, listed):
    """Every difference between umach's layout of its types (ours, compiled by ours_cc) and
    Apple's (apple, compiled by apple_cc) for one architecture: a list of sentences."""
    problems = []
    compared = []
    for name in sorted(set(ours.typedefs) | set(ours.tags)):
        mine = ours.layout_of(name)
        theirs = apple.layout_of(name)
        if (name, arch) in listed or (name, None) in listed:
            if theirs is not None:
                problems.append("%s: listed in scripts/abi-umach-only.txt, but Apple's headers "
                                "for %s declare it" % (name, arch))
            continue
        if theirs is None:
            problems.append("%s: declared by umach's headers for %s, not by Apple's (list it "
                            "in scripts/abi-umach-only.txt only if Darwin keeps it out of its "
                            "SDK)" % (name, arch))
            continue
        if mine[0] in ("function", "void", "incomplete", "unknown"):
            continue
        if theirs[0] != mine[0]:
            problems.append("%s: umach's is a %s type, Apple's (%s) a %s type" %
                            (name, mine[0], arch, theirs[0]))
            continue
        compared.append((name, mine, theirs))

    # One file of constants, compiled against umach's headers and against Apple's.
    probes = []   # (label, what it is, "v" for a value, "b" for a bit-field's bits)
    lines = [includes, "#include <stddef.h>\n"]

    def probe(kind, what, decl):
        label = "abi_%s_%d" % (kind, len(probes))
        lines.append(decl % label + "\n")
        probes.append((label, what, kind))

    fields = 0
    for name, mine, theirs in compared:
        probe("v", "sizeof(%s)" % name, "const long long %%s = (long long)sizeof(%s);" % name)
        probe("v", "_Alignof(%s)" % name,
              "const long long %%s = (long long)_Alignof(%s);" % name)
        if mine[0] == "integer":
            probe("v", "%s is signed" % name,
                  "const long long %%s = (long long)((%s)-1 < (%s)0);" % (name, name))
        if mine[0] != "record":
            continue
        my_fields = {p: (bit, flex) for p, bit, flex in mine[1]}
        their_fields = {p: bit for p, bit, _ in theirs[1]}
        only_mine = [p for p, _, _ in mine[1] if p not in their_fields]
        only_theirs = [p for p, _, _ in theirs[1] if p not in my_fields]
        if only_mine:
            problems.append("%s: fields umach's has and Apple's (%s) has not: %s" %
                            (name, arch, ", ".join(only_mine)))
        if only_theirs:
            problems.append("%s: fields Apple's (%s) has and umach's has not: %s" %
                            (name, arch, ", ".join(only_theirs)))
        for p, _, _ in mine[1]:
            if p not in their_fields:
                continue
            bit, flex = my_fields[p]
            fields += 1
            if bit != their_fields[p]:
                problems.append("%s.%s: a bit-field on one side only (%s)" % (name, p, arch))
                continue
            if bit:
                probe("b", "%s.%s" % (name, p),
                      "const union { %s t; unsigned char b[sizeof(%s)]; } %%s = "
                      "{ .t = { .%s = -1 } };" % (name, name, p))
                continue
            probe("v", "offsetof(%s, %s)" % (name, p),
                  "const long long %%s = (long long)__builtin_offsetof(%s, %s);" % (name, p))
            if not flex:
                probe("v", "sizeof(%s.%s)" % (name, p),
                      "const long long %%s = (long long)sizeof(((%s *)0)->%s);" % (name, p))

    src = os.path.join(out, "abi-probe-%s.c" % arch)
    with open(src, "w") as f:
        f.writelines(lines)
    data = {}
    for side, cmd in (("umach", ours_cc), ("apple", apple_cc)):
        asm = os.path.join(out, "abi-probe-%s-%s.s" % (arch, side))
        # -w: the bit-field constants overflow on purpose (all ones).
        run(cmd + ["-w", "-O0", "-S", "-o", asm, src])
        with open(asm) as f:
            data[side] = parse_asm(f.read(), arch)
    for label, what, kind in probes:
        if kind == "v":
            a, b = value_of(data["umach"], label), value_of(data["apple"], label)
            if a != b:
                problems.append("%s: umach %d, Apple (%s) %d" % (what, a, arch, b))
        else:
            a, b = bits_of(data["umach"], label), bits_of(data["apple"], label)
            if a != b:
                problems.append("%s: umach's %s, Apple's (%s) %s" %
                                (what, describe_bits(a), arch, describe_bits(b)))
    return problems, len(compared), fields


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    root, zig, out, extra = (os.path.abspath(a) for a in sys.argv[1:])
    inc = os.path.join(root, "include")
    os.makedirs(out, exist_ok=True)
    headers = []
    for sub in ("mach", "servers"):
        for f in sorted(os.listdir(os.path.join(inc, sub))):
            if f.endswith(".h"):
                headers.append(sub + "/" + f)
    includes = "".join("#if __has_include(<%s>)\n#include <%s>\n#endif\n" % (h, h)
                       for h in headers)
    all_src = os.path.join(out, "abi-headers.c")
    with open(all_src, "w") as f:
        f.write(includes)

    listed = set()
    with open(os.path.join(root, "scripts", "abi-umach-only.txt")) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            name = " ".join(w for w in words if not w.startswith("arch="))
            archs = [w[5:] for w in words if w.startswith("arch=")]
            for a in archs or [None]:
                listed.add((name, a))

    ours_dirs = (os.path.join(inc, "mach") + "/", os.path.join(inc, "servers") + "/")
    mine_only = lambda p: os.path.abspath(p).startswith(ours_dirs)
    zig_cc = [zig, "cc", "-std=c11"]
    # umach's side: gcc on x86_64 Linux (clang's AST for the names); zig's clang for aarch64
    # Linux, with the C library headers zig ships for it.
    sides = (("x86_64", ["clang", "-std=c11", "-I", inc], ["gcc", "-std=c11", "-I", inc]),
             ("aarch64", zig_cc + ["-target", "aarch64-linux-gnu", "-I", inc],
              zig_cc + ["-target", "aarch64-linux-gnu", "-I", inc]))
    problems = []
    summary = []
    for arch, ast_cc, ours_cc in sides:
        apple_cc = zig_cc + ["-target", arch + "-macos.13.0", "-idirafter", extra]
        ours = ast_of(ast_cc, all_src, mine_only)
        apple = ast_of(apple_cc, all_src, lambda p: True)
        p, types, fields = compare(arch, ours, apple, ours_cc, apple_cc, includes, out, listed)
        problems.extend(p)
        summary.append("%s: %d types, %d fields" % (arch, types, fields))

    if problems:
        for p in problems:
            print("abi-layout: " + p)
        print("abi-layout: FAILED: %d differences" % len(problems))
        return 1
    print("abi-layout: umach's <mach/*.h> and <servers/*.h> match Apple's (%s); %d "
          "umach-only names listed" % ("; ".join(summary), len({n for n, _ in listed})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
