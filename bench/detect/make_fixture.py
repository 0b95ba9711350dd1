#!/usr/bin/python3
"""Write a pytest project for the detect benchmark (issue 8, item 5).

    /usr/bin/python3 bench/detect/make_fixture.py OUTDIR [--tests 600] [--failures 70] [--slow-files 2]

OUTDIR gets `pyproject.toml` (pythonpath = ., testpaths = tests), a small package `benchpkg`,
`tests/test_NNN.py` files of about 40 tests each (plain functions, parametrized cases and test
classes), and `EXPECTED.json` with the counts and the exact node ids that fail. Exactly
--failures tests fail, deterministically (wrong expected values, spread over the files; no
sleeps, no randomness). Most tests take microseconds; --slow-files files do a few milliseconds
of real work per test, as real suites have. Prints what it wrote. Standard library only.
"""
import argparse
import json
import pathlib
import sys

PER_FILE = 40

PKG = '''"""Code under test for the detect benchmark."""


def checksum(n):
    return sum((i * 2654435761) % 4294967296 for i in range(n)) % 1000003


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def work(n):
    """A few milliseconds of CPU for n of about 20000."""
    return checksum(n)
'''


def expected(kind, i):
    from_pkg = {"checksum": lambda n: sum((k * 2654435761) % 4294967296 for k in range(n)) % 1000003,
                "fib": lambda n: _fib(n)}
    return from_pkg[kind](i)


def _fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--tests", type=int, default=600)
    ap.add_argument("--failures", type=int, default=70)
    ap.add_argument("--slow-files", type=int, default=2)
    args = ap.parse_args()
    if not 0 <= args.failures <= args.tests or args.tests < 1:
        sys.exit("make_fixture: need 1 <= tests and 0 <= failures <= tests")
    out = pathlib.Path(args.outdir)
    (out / "tests").mkdir(parents=True, exist_ok=True)
    (out / "benchpkg").mkdir(exist_ok=True)
    (out / "benchpkg" / "__init__.py").write_text(PKG)
    (out / "pyproject.toml").write_text(
        '[project]\nname = "detect-bench"\nversion = "0.1.0"\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n')
    (out / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")

    n_files = max(1, -(-args.tests // PER_FILE))
    sizes = [args.tests // n_files + (1 if f < args.tests % n_files else 0) for f in range(n_files)]
    # Failures: test number g (0-based, over the whole suite) fails when it is one of
    # round(k * tests / failures) for k in 0..failures-1: spread evenly, exactly --failures.
    failing = {(k * args.tests) // args.failures for k in range(args.failures)} if args.failures else set()
    slow = set(range(1, n_files, max(1, n_files // max(1, args.slow_files)))[: args.slow_files]) if args.slow_files else set()
    ids, g = [], 0
    for f, size in enumerate(sizes):
        name = f"tests/test_{f:03d}.py"
        lines = ["import pytest", "", "from benchpkg import checksum, fib, work", ""]
        # Layout per file: a third plain functions, a third one parametrized test, the rest in a class.
        n_plain = size // 3
        n_param = size // 3
        n_class = size - n_plain - n_param
        for i in range(n_plain):
            fails = g in failing
            arg = 20000 if f in slow else 50 + i
            want = expected("checksum", arg) + (1 if fails else 0)
            fn = "work" if f in slow else "checksum"
            lines += [f"def test_checksum_{i}():", f"    assert {fn}({arg}) == {want}", ""]
            if fails:
                ids.append(f"{name}::test_checksum_{i}")
            g += 1
        rows = []
        for i in range(n_param):
            fails = g in failing
            rows.append(f"({i}, {_fib(i) + (1 if fails else 0)})")
            if fails:
                ids.append(f"{name}::test_fib[{i}-{_fib(i) + 1}]")
            g += 1
        if n_param:
            lines += ["@pytest.mark.parametrize(\"n,want\", [" + ", ".join(rows) + "])", "def test_fib(n, want):",
                      "    assert fib(n) == want", ""]
        if n_class:
            lines += [f"class TestGroup{f}:"]
            for i in range(n_class):
                fails = g in failing
                want = 3 * i + (1 if fails else 0)
                lines += [f"    def test_triple_{i}(self):", f"        assert {i} * 3 == {want}", ""]
                if fails:
                    ids.append(f"{name}::TestGroup{f}::test_triple_{i}")
                g += 1
        (out / name).write_text("\n".join(lines).rstrip() + "\n")
    assert g == args.tests and len(ids) == args.failures, (g, len(ids))
    summary = {"tests": args.tests, "failures": args.failures, "files": n_files,
               "slow_files": sorted(f"tests/test_{f:03d}.py" for f in slow), "failing": ids}
    (out / "EXPECTED.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"make_fixture: wrote {out}: {args.tests} tests in {n_files} files (tests/test_000.py ..), "
          f"{args.failures} failing, slow files {summary['slow_files']}; ids in {out / 'EXPECTED.json'}")


if __name__ == "__main__":
    main()
