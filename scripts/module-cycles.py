#!/usr/bin/env python3
"""Report cycles between the top-level modules of src/ (lib crate), read from `crate::X` paths.

Usage: scripts/module-cycles.py [--graph]
Exit status 1 when a cycle exists (CI runs it through scripts/test.sh)."""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
# `crate::x`, and `crate::{x, y::z}` groups (one level is enough for the top-level name).
PATH = re.compile(r"\bcrate::(\{[^}]*\}|[a-z_][a-z0-9_]*)")


def top_level(path: pathlib.Path) -> str | None:
    rel = path.relative_to(SRC)
    if rel.parts[0] in ("main.rs", "lib.rs", "cli"):
        return None  # the binary and the crate root are above every module
    return rel.parts[0].removesuffix(".rs")


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for file in sorted(SRC.rglob("*.rs")):
        me = top_level(file)
        if me is None:
            continue
        graph.setdefault(me, set())
        text = file.read_text()
        for m in PATH.finditer(text):
            group = m.group(1)
            names = re.findall(r"(?:^|[{,]\s*)([a-z_][a-z0-9_]*)", group) if group.startswith("{") else [group]
            for name in names:
                if name != me and (SRC / f"{name}.rs").exists() or (SRC / name).is_dir():
                    if name != me:
                        graph[me].add(name)
    return graph


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    graph = edges()
    if "--graph" in sys.argv:
        for v in sorted(graph):
            print(f"{v} -> {', '.join(sorted(graph[v])) or '-'}")
    cycles = [c for c in sccs(graph) if len(c) > 1]
    for c in cycles:
        print("cycle: " + " <-> ".join(c))
    print(f"{len(graph)} top-level modules, {len(cycles)} cycle(s)")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
