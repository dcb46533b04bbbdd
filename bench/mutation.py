"""Mutation testing of the critical modules: do the tests notice when the code is wrong?

    .venv/bin/python -m bench.mutation [--module NAME ...] [--max-mutants N] [--seed S]
        [--jobs J] [--timeout SECONDS] [--min-kill-rate R] [--json PATH] [--list]

For each target (a module, the functions in it that matter, and the fast tests that
guard them) the runner makes small wrong versions of the code ("mutants"), one change
each: a comparison flipped (``<`` ↔ ``<=``, ``==`` ↔ ``!=``, ``in`` ↔ ``not in``, ``is``
↔ ``is not``), ``and`` ↔ ``or``, a ``not`` dropped, an arithmetic operator swapped, a
number ±1 or ``True`` ↔ ``False``, an ``if`` condition negated or its body replaced by
``pass``, a call statement, ``raise``, ``continue`` or ``break`` removed, a returned
value replaced by ``None``. Each mutant runs the target's tests (``-x -q -p
no:cacheprovider``, with a time limit); a failing run *kills* it, a passing one means the
tests did not notice the change (a *survivor*, printed with its diff).

Safety: mutants are written only into private copies of the working tree (one per job)
made at the start, never into the repository, so nothing can be left behind, whatever
stops the run (Ctrl-C included: the copies are temporary directories). A target whose
file has uncommitted changes (someone is editing it) is skipped and said so, unless
``--include-dirty``. The copies run with ``PYTHONPATH`` pointing at themselves and no
bytecode caches, and a check makes sure the copy's modules are the ones imported.

Kill rate = (killed + timed out) / mutants run. Figures and the agreed minimum:
docs/MUTATION.md.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """A module to mutate, where, and the tests that should notice."""

    name: str
    path: str
    #: Functions (or ``Class.method``, or a class: all its methods) to mutate; None: all.
    functions: tuple[str, ...] | None
    tests: tuple[str, ...]
    #: A pytest ``-k`` expression narrowing the tests, if any.
    select: str | None = None


TARGETS: tuple[Target, ...] = (
    Target(
        "parse",
        "adapters/email/parse.py",
        None,
        # Not test_parse_fuzz.py: with the real-world corpus present it takes minutes.
        ("tests/integration/test_parse_headers.py", "tests/unit/test_parse_edges.py"),
    ),
    Target(
        "sync",
        "omnitui/sync/__init__.py",
        ("backoff", "SyncService.round", "SyncService._failed", "SyncService._store_step"),
        (
            "tests/integration/test_guarantees.py",
            "tests/integration/test_sync_round.py",
            "tests/integration/test_sync.py",
        ),
    ),
    Target(
        "outbox",
        "omnitui/sync/__init__.py",
        (
            "SyncService._send_due",
            "SyncService.reconcile",
            "SyncService._claim",
            "SyncService._send_one",
        ),
        (
            "tests/integration/test_guarantees.py",
            "tests/integration/test_sync_round.py",
            "tests/integration/test_sync.py",
        ),
    ),
    Target(
        "repository",
        "storage/repository.py",
        (
            "known_messages",
            "_chunks",
            "store_payloads",
            "save_cursor",
            "load_cursors",
            "set_account_state",
        ),
        (
            "tests/integration/test_guarantees.py",
            "tests/integration/test_sync_round.py",
            "tests/integration/test_desk.py",
        ),
    ),
    Target(
        "sanitize",
        "omnitui/sanitize.py",
        None,
        ("tests/unit/test_sanitize.py", "tests/unit/test_sanitize_edges.py"),
    ),
    Target(
        "sla",
        "omnitui/desk/sla.py",
        None,
        (
            "tests/unit/test_sla_clock.py",
            "tests/unit/test_sla_edges.py",
            "tests/integration/test_workflow.py",
        ),
    ),
)


# -- making mutants ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """One change: bytes ``start:end`` of the file become ``text``."""

    target: str
    line: int
    function: str
    kind: str
    start: int
    end: int
    text: str

    def apply(self, source: bytes) -> bytes:
        return source[: self.start] + self.text.encode() + source[self.end :]

    def diff(self, source: bytes, path: str) -> str:
        before = source.decode().splitlines(keepends=True)
        after = self.apply(source).decode().splitlines(keepends=True)
        return "".join(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", n=1)).rstrip(
            "\n"
        )


_COMPARE_SWAP: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINOP_SWAP: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Pow: ast.Mult,
}


class _Finder(ast.NodeVisitor):
    """Walks a module and records every mutant inside the chosen functions. Positions
    are byte offsets (``ast`` columns count UTF-8 bytes)."""

    def __init__(self, target: Target, source: bytes) -> None:
        self.target = target
        self.source = source
        self.starts = [0]
        for line in source.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))
        self.scope: list[str] = []
        self.mutants: list[Mutant] = []

    # where we are
    def _chosen(self) -> str | None:
        if not any(part.startswith("def:") for part in self.scope):
            return None  # module or class level: never mutated
        qualname = ".".join(p.split(":", 1)[1] for p in self.scope)
        if self.target.functions is None:
            return qualname
        dotted = f".{qualname}."
        for name in self.target.functions:
            if f".{name}." in dotted:
                return qualname
        return None

    def _offset(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def _span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self._offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self._offset(node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def _add(self, node: ast.AST, kind: str, text: str, span: tuple[int, int] | None = None):
        function = self._chosen()
        if function is None:
            return
        start, end = span or self._span(node)
        self.mutants.append(
            Mutant(self.target.name, node.lineno, function, kind, start, end, text)  # type: ignore[attr-defined]
        )

    def _segment(self, node: ast.AST) -> str:
        start, end = self._span(node)
        return self.source[start:end].decode()

    # scopes: only bodies are mutated, never signatures, defaults or decorators
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:  # noqa: N802
        self.scope.append(f"def:{node.name}")
        body = node.body
        if body and _is_docstring(body[0]):
            body = body[1:]
        for stmt in body:
            self.visit(stmt)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # noqa: N802
        self.scope.append(f"class:{node.name}")
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:  # noqa: N802
        if node.value is not None:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:  # noqa: N802
        return  # f-strings: messages, not logic

    def visit_Lambda(self, node: ast.Lambda) -> None:  # noqa: N802
        self.visit(node.body)

    # expressions
    def visit_Compare(self, node: ast.Compare) -> None:  # noqa: N802
        for i, op in enumerate(node.ops):
            swap = _COMPARE_SWAP.get(type(op))
            if swap is None:
                continue
            ops = list(node.ops)
            ops[i] = swap()
            new = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
            self._add(node, f"compare {_op(op)} -> {_op(ops[i])}", f"({ast.unparse(new)})")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:  # noqa: N802
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        new = ast.BoolOp(op=other, values=node.values)
        self._add(node, f"{_op(node.op)} -> {_op(other)}", f"({ast.unparse(new)})")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:  # noqa: N802
        if isinstance(node.op, ast.Not):
            self._add(node, "drop not", f"({self._segment(node.operand)})")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:  # noqa: N802
        swap = _BINOP_SWAP.get(type(node.op))
        textual = any(
            isinstance(side, ast.JoinedStr)
            or (isinstance(side, ast.Constant) and isinstance(side.value, str | bytes))
            for side in (node.left, node.right)
        )
        if swap is not None and not textual:
            new = ast.BinOp(left=node.left, op=swap(), right=node.right)
            self._add(node, f"{_op(node.op)} -> {_op(new.op)}", f"({ast.unparse(new)})")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:  # noqa: N802
        value = node.value
        if isinstance(value, bool):
            self._add(node, f"{value} -> {not value}", str(not value))
        elif isinstance(value, int | float):
            for delta in (1, -1):
                self._add(node, f"{value!r} -> {value + delta!r}", f"({value + delta!r})")

    # statements
    def visit_If(self, node: ast.If) -> None:  # noqa: N802
        self._add(node.test, "negate if", f"not ({self._segment(node.test)})")
        if not (len(node.body) == 1 and isinstance(node.body[0], ast.Pass)):
            start = self._span(node.body[0])[0]
            end = self._span(node.body[-1])[1]
            self._add(node, "if body -> pass", "pass", (start, end))
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:  # noqa: N802
        if isinstance(node.value, ast.Call | ast.Await):
            self._add(node, "drop call", "pass")
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:  # noqa: N802
        self._add(node, "drop raise", "pass")
        self.generic_visit(node)

    def visit_Continue(self, node: ast.Continue) -> None:  # noqa: N802
        self._add(node, "drop continue", "pass")

    def visit_Break(self, node: ast.Break) -> None:  # noqa: N802
        self._add(node, "drop break", "pass")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:  # noqa: N802
        self._add(node, "drop augmented assignment", "pass")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:  # noqa: N802
        if node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None
        ):
            self._add(node, "return None", "return None")
        self.generic_visit(node)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _op(op: ast.AST) -> str:
    return {
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
        ast.And: "and",
        ast.Or: "or",
        ast.Add: "+",
        ast.Sub: "-",
        ast.Mult: "*",
        ast.Div: "/",
        ast.FloorDiv: "//",
        ast.Pow: "**",
    }.get(type(op), type(op).__name__)


def mutants_of(target: Target, source: bytes) -> list[Mutant]:
    """Every valid mutant of ``source`` in the target's functions: each compiles and
    differs from the original in its syntax tree."""
    finder = _Finder(target, source)
    finder.visit(ast.parse(source))
    original = ast.dump(ast.parse(source))
    found: list[Mutant] = []
    seen: set[bytes] = set()
    for mutant in finder.mutants:
        changed = mutant.apply(source)
        if changed in seen:
            continue
        try:
            tree = ast.parse(changed)
            compile(tree, target.path, "exec")
        except SyntaxError:
            continue
        if ast.dump(tree) == original:
            continue
        seen.add(changed)
        found.append(mutant)
    return found


# -- running them ------------------------------------------------------------------------


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed | survived | timeout
    seconds: float
    diff: str = ""


@dataclass
class Report:
    target: str
    path: str
    tests: list[str]
    found: int = 0
    skipped: str | None = None
    baseline_seconds: float = 0.0
    results: list[Result] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def kill_rate(self) -> float | None:
        if not self.results:
            return None
        return (self.count("killed") + self.count("timeout")) / len(self.results)


_SKIP_NAMES = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}
#: Data the targeted tests do not read (the real-world corpus: 12 MB; bench data).
_SKIP_PATHS = {ROOT / "tests" / "realworld" / "data", ROOT / "bench" / ".data"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    here = Path(directory)
    return {n for n in names if n in _SKIP_NAMES or n.endswith(".pyc") or here / n in _SKIP_PATHS}


class Workspace:
    """Private copies of the working tree, one per job, removed at the end."""

    def __init__(self, jobs: int) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="omnitui-mutation-"))
        self.trees: list[Path] = []
        for i in range(jobs):
            tree = self.base / f"tree{i}"
            shutil.copytree(ROOT, tree, ignore=_ignore, symlinks=True)
            self.trees.append(tree)
        self._free = list(self.trees)
        self._lock = threading.Lock()

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def take(self) -> Path:
        with self._lock:
            return self._free.pop()

    def give(self, tree: Path) -> None:
        with self._lock:
            self._free.append(tree)


_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()
_STOP = threading.Event()


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant's bytecode must never outlive it
    env["PYTHONHASHSEED"] = "0"
    return env


def check_isolation(tree: Path) -> None:
    """Make sure the copy's modules, not the repository's, are the ones imported."""
    code = "import adapters, omnitui, storage; print(adapters.__file__, omnitui.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        timeout=120,
    )
    paths = out.stdout.split()
    if out.returncode != 0 or not paths or not all(p.startswith(str(tree)) for p in paths):
        raise SystemExit(f"mutation: the copy is not what gets imported ({out.stdout}{out.stderr})")


def run_tests(tree: Path, target: Target, timeout: float) -> tuple[str, float]:
    """Run the target's tests in ``tree``: passed | failed | timeout, and seconds."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    if target.select:
        cmd += ["-k", target.select]
    cmd += list(target.tests)
    started = time.perf_counter()
    with _RUNNING_LOCK:
        if _STOP.is_set():
            return "cancelled", 0.0
        proc = subprocess.Popen(
            cmd,
            cwd=tree,
            env=_env(tree),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed whole on timeout
        )
        _RUNNING.add(proc)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return "timeout", time.perf_counter() - started
    except BaseException:
        _kill(proc)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    if _STOP.is_set():
        return "cancelled", time.perf_counter() - started
    return ("passed" if code == 0 else "failed"), time.perf_counter() - started


def stop_all() -> None:
    """Ctrl-C: no new test runs, and the running ones killed."""
    with _RUNNING_LOCK:
        _STOP.set()
        running = list(_RUNNING)
    for proc in running:
        _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def _dirty(path: str) -> bool:
    """Whether the file differs from the last commit (someone is editing it)."""
    out = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return bool(out.stdout.strip())


def mutate_target(
    target: Target,
    work: Workspace,
    *,
    max_mutants: int | None,
    seed: int,
    jobs: int,
    timeout: float | None,
    dirty: bool,
    progress: bool,
) -> Report:
    report = Report(target.name, target.path, list(target.tests))
    missing = [t for t in target.tests if not (ROOT / t).exists()]
    if missing:
        report.skipped = f"tests not found: {', '.join(missing)}"
        return report
    if dirty:
        report.skipped = f"{target.path} has uncommitted changes (being edited): not mutated"
        return report
    tree = work.trees[0]
    source = (tree / target.path).read_bytes()
    mutants = mutants_of(target, source)
    report.found = len(mutants)
    if max_mutants is not None and len(mutants) > max_mutants:
        mutants = sorted(
            random.Random(f"{seed}:{target.name}").sample(mutants, max_mutants),
            key=lambda m: m.start,
        )
    outcome, seconds = run_tests(tree, target, timeout=600)
    report.baseline_seconds = round(seconds, 2)
    if outcome != "passed":
        report.skipped = f"the tests do not pass on the unmutated code ({outcome}): not mutated"
        return report
    limit = timeout or max(30.0, 4 * seconds + 10)

    def one(mutant: Mutant) -> Result:
        tree = work.take()
        path = tree / target.path
        try:
            path.write_bytes(mutant.apply(source))
            outcome, took = run_tests(tree, target, limit)
        finally:
            path.write_bytes(source)
            work.give(tree)
        verdict = {"passed": "survived", "failed": "killed"}.get(outcome, outcome)
        diff = mutant.diff(source, target.path) if verdict == "survived" else ""
        return Result(mutant, verdict, round(took, 2), diff)

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for i, result in enumerate(pool.map(one, mutants), 1):
            if result.outcome == "cancelled":
                continue
            report.results.append(result)
            if progress:
                mark = {"killed": ".", "survived": "S", "timeout": "T"}[result.outcome]
                print(mark, end="" if i % 60 else "\n", flush=True, file=sys.stderr)
    except BaseException:
        stop_all()  # Ctrl-C: kill the running tests now, not when they finish
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if progress:
        print(file=sys.stderr)
    return report


# -- reporting ---------------------------------------------------------------------------


def summary_lines(reports: list[Report], min_rate: float) -> Iterator[str]:
    yield f"{'module':<11} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8}  kill rate"
    total = killed = 0
    for r in reports:
        if r.skipped:
            yield f"{r.target:<11} skipped: {r.skipped}"
            continue
        rate = r.kill_rate
        n = len(r.results)
        total += n
        killed += r.count("killed") + r.count("timeout")
        low = "  BELOW MINIMUM" if rate is not None and rate < min_rate else ""
        shown = f"{rate:.0%}" if rate is not None else "-"
        yield (
            f"{r.target:<11} {n:>4}/{r.found:<4}{r.count('killed'):>4} {r.count('timeout'):>7} "
            f"{r.count('survived'):>8}  {shown}{low}"
        )
    if total:
        yield f"{'all':<11} {total:>7} {killed:>6}  kill rate {killed / total:.0%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = [t.name for t in TARGETS]
    parser.add_argument("--module", action="append", choices=names, help="only these (repeat)")
    parser.add_argument("--max-mutants", type=int, help="a seeded sample of N mutants per module")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=max(1, min(4, (os.cpu_count() or 2))))
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: from baseline)")
    parser.add_argument("--min-kill-rate", type=float, default=0.8)
    parser.add_argument("--include-dirty", action="store_true", help="mutate files being edited")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--json", metavar="PATH", help="write the full results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress dots")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.module or t.name in args.module]

    if args.list:
        for target in targets:
            source = (ROOT / target.path).read_bytes()
            found = mutants_of(target, source)
            print(f"{target.name}: {len(found)} mutants in {target.path}")
            for m in found:
                print(f"  {target.path}:{m.line} {m.function}: {m.kind}")
        return 0

    started = time.perf_counter()
    # Decided before the copies are made: a file someone is editing is not mutated.
    dirty = {t.path: not args.include_dirty and _dirty(t.path) for t in targets}
    work = Workspace(args.jobs)
    reports: list[Report] = []
    try:
        check_isolation(work.trees[0])
        for target in targets:
            if not args.quiet:
                print(f"{target.name}: {target.path}", file=sys.stderr)
            reports.append(
                mutate_target(
                    target,
                    work,
                    max_mutants=args.max_mutants,
                    seed=args.seed,
                    jobs=args.jobs,
                    timeout=args.timeout,
                    dirty=dirty[target.path],
                    progress=not args.quiet,
                )
            )
    except KeyboardInterrupt:
        stop_all()
        print("\nmutation: interrupted; the repository was never touched", file=sys.stderr)
        return 130
    finally:
        work.close()
    for report in reports:
        for result in report.results:
            if result.outcome == "survived":
                m = result.mutant
                print(f"\nSURVIVED {report.target} {report.path}:{m.line} {m.function}: {m.kind}")
                print(result.diff)
    print()
    for line in summary_lines(reports, args.min_kill_rate):
        print(line)
    print(
        f"seed {args.seed}, max {args.max_mutants or 'all'} per module, "
        f"{time.perf_counter() - started:.0f} s"
    )
    if args.json:
        data = [
            {
                **{k: v for k, v in asdict(r).items() if k != "results"},
                "kill_rate": r.kill_rate,
                "results": [
                    {**asdict(x.mutant), "outcome": x.outcome, "seconds": x.seconds, "diff": x.diff}
                    for x in r.results
                ],
            }
            for r in reports
        ]
        Path(args.json).write_text(json.dumps(data, indent=1))
    below = [r for r in reports if r.kill_rate is not None and r.kill_rate < args.min_kill_rate]
    return 1 if below else 0


if __name__ == "__main__":
    raise SystemExit(main())
