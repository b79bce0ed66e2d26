"""test_c_structure.py - libgru's C functions stay small and shallow.

Every function defined in c/src (*.c and *.h, kernels included) must have a body of at
most MAX_LINES lines (from its opening brace to its closing brace) and a nesting depth
of at most MAX_DEPTH. Depth counts the levels of statements inside the body: a
statement directly in the body is at level 0, the body of a `for` / `while` / `if` /
`else` / `do` / `switch` or of a plain `{ }` block one level deeper, with or without
braces (an `else if` chain stays at its `if`'s level). So "a for inside an if inside a
for" reaches depth 3.

The parser is deliberately small: comments, strings and preprocessor lines are blanked
(line numbers kept), then functions are the top-level `{ ... }` blocks that follow a
parameter list. ALLOWED lists the few functions that may exceed a limit, with the
reason; keep it short.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "c" / "src"

MAX_LINES = 60
MAX_DEPTH = 3

# (file relative to c/src, function name) -> reason. Limits still apply to others.
ALLOWED = {
}

CONTROL = {"for", "while", "if", "switch"}


def strip_source(text):
    """Blank comments, string / char literals and preprocessor lines, keeping newlines."""
    out, i, n = [], 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if at_line_start and c == "#":
            # a directive, with its continuation lines
            while i < n:
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                if text[i] == "\n":
                    break
                out.append(" ")
                i += 1
            continue
        at_line_start = False
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
            continue
        if c == "\n":
            at_line_start = True
        out.append(c)
        i += 1
    return "".join(out)


TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|->|\+\+|--|<<=|>>=|[<>=!+\-*/%&|^]=|&&|\|\||<<|>>|\S")


def tokenize(text):
    """(token, line) pairs."""
    toks = []
    for lineno, line in enumerate(text.split("\n"), 1):
        toks.extend((m.group(), lineno) for m in TOKEN.finditer(line))
    return toks


class Body:
    """Nesting depth of the statements in tokens[i:] (a function body without its braces)."""

    def __init__(self, toks):
        self.t = toks
        self.i = 0
        self.depth = 0

    def peek(self, k=0):
        j = self.i + k
        return self.t[j][0] if j < len(self.t) else None

    def skip_group(self, open_, close):
        """Consume a balanced (...) or {...} group starting at the current token."""
        level = 0
        while self.i < len(self.t):
            tok = self.t[self.i][0]
            self.i += 1
            if tok == open_:
                level += 1
            elif tok == close:
                level -= 1
                if level == 0:
                    return

    def block(self, level):
        """Statements until the matching '}' (the '{' already consumed)."""
        while self.i < len(self.t) and self.peek() != "}":
            self.statement(level)
        self.i += 1

    def body_of(self, level):
        """The statement governed by a control keyword at `level`."""
        self.depth = max(self.depth, level + 1)
        if self.peek() == "{":
            self.i += 1
            self.block(level + 1)
        else:
            self.statement(level + 1)

    def statement(self, level):
        self.depth = max(self.depth, level)
        tok = self.peek()
        if tok is None:
            return
        if re.match(r"[A-Z_][A-Z0-9_]*$", tok) and self.peek(1) in CONTROL | {"do", "{"}:
            self.i += 1  # a pragma macro before a loop (GRU_UNROLL for ...)
            self.statement(level)
            return
        if tok == "{":
            self.i += 1
            self.depth = max(self.depth, level + 1)
            self.block(level + 1)
            return
        if tok in ("case", "default") or (re.match(r"[A-Za-z_]\w*$", tok) and self.peek(1) == ":"):
            while self.peek() not in (":", None):
                self.i += 1
            self.i += 1
            if self.peek() != "}":
                self.statement(level)
            return
        if tok in CONTROL:
            self.i += 1
            self.skip_group("(", ")")
            self.body_of(level)
            if tok == "if" and self.peek() == "else":
                self.else_chain(level)
            return
        if tok == "do":
            self.i += 1
            self.body_of(level)
            self.i += 1  # while
            self.skip_group("(", ")")
            self.i += 1  # ;
            return
        self.simple(level)

    def else_chain(self, level):
        while self.peek() == "else":
            self.i += 1
            if self.peek() == "if":
                self.i += 1
                self.skip_group("(", ")")
                self.body_of(level)
            else:
                self.body_of(level)
                return

    def simple(self, level):
        """An expression or declaration statement up to its ';' (braces inside are
        initialisers, not levels)."""
        paren = 0
        while self.i < len(self.t):
            tok = self.peek()
            if tok in "({[":
                paren += 1
            elif tok in ")}]":
                if paren == 0:
                    return  # a block's closing brace: the statement had no ';'
                paren -= 1
            self.i += 1
            if tok == ";" and paren == 0:
                return


def function_name(sig):
    """The name in a signature's tokens (ending with its parameter list): the token
    before the list, or a macro-built name such as FN(forward_job)."""
    k, level = len(sig) - 1, 0
    while k >= 0:
        level += sig[k] == ")"
        level -= sig[k] == "("
        if level == 0:
            break
        k -= 1
    if k >= 4 and sig[k - 1] == ")" and sig[k - 3] == "(":
        return "".join(sig[k - 4:k])
    return sig[k - 1] if k >= 1 else "?"


def functions(path):
    """(name, first line, body lines, depth) of each function defined in path."""
    text = strip_source(path.read_text(encoding="utf-8"))
    toks = tokenize(text)
    found, i, start = [], 0, 0
    while i < len(toks):
        tok = toks[i][0]
        if tok in (";", "}"):
            start = i + 1
        elif tok == "{":
            j = Body(toks)
            j.i = i
            j.skip_group("{", "}")
            sig = [t for t, _ in toks[start:i]]
            is_type = "typedef" in sig or any(
                sig[q] in ("struct", "union", "enum") and sig[q + 2] == "(" for q in range(len(sig) - 2))
            if sig and sig[-1] == ")" and "=" not in sig and "(" in sig and not is_type:
                name = function_name(sig)
                body = Body(toks[i + 1:j.i - 1])
                while body.i < len(body.t):
                    body.statement(0)
                first, last = toks[i][1], toks[j.i - 1][1]
                found.append((name, toks[start][1], last - first + 1, body.depth))
            i = j.i
            start = i
            continue
        i += 1
    return found


def all_functions():
    for path in sorted(list(SRC.rglob("*.c")) + list(SRC.rglob("*.h"))):
        rel = path.relative_to(SRC).as_posix()
        for name, line, length, depth in functions(path):
            yield rel, name, line, length, depth


def test_parser_finds_the_functions():
    found = {(f, n) for f, n, *_ in all_functions()}
    assert ("gru.c", "gru_create") in found
    assert ("pool.c", "gru_pool_run") in found
    assert len(found) > 100


def test_parser_counts_depth(tmp_path):
    src = tmp_path / "probe.c"
    src.write_text("int f(int n)\n{\n    int s = 0;\n    for (int i = 0; i < n; i++)\n"
                   "        if (i) { UNROLL for (;;) s++; }\n        else if (s) s--;\n"
                   "        else { s = (int){1}; }\n    return s;\n}\n")
    assert functions(src) == [("f", 1, 8, 3)]


def test_functions_are_short_and_shallow():
    offenders = []
    for rel, name, line, length, depth in all_functions():
        if (rel, name) in ALLOWED:
            continue
        if length > MAX_LINES or depth > MAX_DEPTH:
            offenders.append(f"c/src/{rel}:{line}: {name}: {length} lines, depth {depth}")
    assert not offenders, (
        f"functions over {MAX_LINES} lines or depth {MAX_DEPTH} (split them, or list "
        "them in ALLOWED with a reason):\n" + "\n".join(offenders))


def test_allow_list_is_current():
    present = {(rel, name): (length, depth) for rel, name, _, length, depth in all_functions()}
    stale = [k for k in ALLOWED if k not in present
             or (present[k][0] <= MAX_LINES and present[k][1] <= MAX_DEPTH)]
    assert not stale, f"ALLOWED entries that no longer need it: {stale}"
