"""The pseudo-novel package builder: fidelity, leaks, determinism, official layout, bad input."""

from __future__ import annotations

import importlib
import json
import pydoc
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from selfevolve_lab.obfuscate.build import build_bench
from selfevolve_lab.obfuscate.emit import choose_names
from selfevolve_lab.obfuscate.leaks import lint_bench
from selfevolve_lab.obfuscate.surface import introspect
from selfevolve_lab.obfuscate.translate import translate_code


@pytest.fixture(scope="module")
def zwc(numpy_bench):
    sys.path.insert(0, str(numpy_bench.package_dir))
    mod = importlib.import_module("zwc")
    yield mod
    sys.path.remove(str(numpy_bench.package_dir))


@pytest.fixture(scope="module")
def novel(numpy_bench, zwc):
    """original dotted name -> the novel object."""

    def get(original):
        obj = zwc
        for part in numpy_bench.mapping[original].split(".")[1:]:
            obj = getattr(obj, part)
        return obj

    return get


def attr(numpy_bench, original):
    return numpy_bench.mapping[original].rsplit(".", 1)[1]


def unwrap(zwc, v):
    return zwc._core.unwrap(v)


# ---------------------------------------------------------------- surface and counts


def test_surface_is_large_and_counted(numpy_bench):
    counts = numpy_bench.manifest.counts
    top_level = counts["function"] + counts["class"] + counts["constant"] + counts.get("exception", 0)
    array_members = [o for o in numpy_bench.mapping if o.startswith("numpy.ndarray.")]
    assert top_level + len(array_members) >= 450, counts
    assert len(array_members) == len([a for a in dir(np.ndarray) if not a.startswith("_")])
    for sub in ("numpy.linalg.inv", "numpy.fft.fft", "numpy.random.default_rng", "numpy.linalg.LinAlgError"):
        assert sub in numpy_bench.mapping


def test_names_are_pronounceable_fresh_and_safe(numpy_bench):
    import builtins
    import keyword

    originals = {o.rsplit(".", 1)[-1] for o in numpy_bench.mapping}
    novel = [n.rsplit(".", 1)[-1] for o, n in numpy_bench.mapping.items() if o != "numpy"]
    assert len(set(numpy_bench.mapping.values())) == len(numpy_bench.mapping)  # collision-free
    for n in novel:
        assert n not in originals and not keyword.iskeyword(n) and not hasattr(builtins, n), n
    fn = numpy_bench.mapping["numpy.abs"].split(".")[1]
    assert 5 <= len(fn) <= 7 and fn.isalpha() and fn.islower()
    assert len(numpy_bench.mapping["numpy.linalg"].split(".")[1]) == 3


def test_determinism(numpy_bench, tmp_path):
    again = build_bench("numpy", tmp_path / "again", seed=42, name="zwc", lint=False)
    assert again.manifest.files == numpy_bench.manifest.files  # byte-identical, by hash
    other = choose_names(introspect("numpy"), 7, "zwc").mapping
    changed = sum(other[o] != n for o, n in numpy_bench.mapping.items())
    assert changed > 0.95 * len(numpy_bench.mapping)



def test_doc_examples_are_reproducible_and_isolated(numpy_bench):
    """What a doc example shows must be the same in every build: random draws repeat, anything tied to
    one process (its id, its directory) is dropped, and no docstring sees what another one changed."""
    from selfevolve_lab.obfuscate.docs import Rewriter, _run_examples, _split_examples
    from selfevolve_lab.obfuscate.emit import load_table

    table = load_table(numpy_bench.package_dir / numpy_bench.package)
    rw = Rewriter(numpy_bench.mapping, "numpy", numpy_bench.package, table["words"], table["ambiguous"])
    docs = {
        "random": ">>> rng = np.random.default_rng()\n>>> rng.permutation(12)\n>>> np.random.rand(3)\n",
        "process": ">>> import os\n>>> os.getpid()\n>>> os.getcwd()\n",
        "sets_options": ">>> np.set_printoptions(precision=2)\n",
        "crashes": ">>> import os\n>>> os._exit(3)\n",
        "later": ">>> np.array([1/3]) + 0\n",
        "absolute_path": ">>> np.arange(2)\n>>> np.save('/tmp/selfevolve-doc-example.npy', np.arange(3))\n",
    }
    plans = {k: _split_examples(d) for k, d in docs.items()}
    runs = [{k: [r["output"] if r["keep"] else None for r in v]
             for k, v in _run_examples(plans, numpy_bench.package_dir, rw).items()} for _ in range(2)]
    assert runs[0] == runs[1]  # what the docs show
    shown = {k: [o for o in v if o is not None] for k, v in runs[0].items()}
    assert len(shown["random"]) == 3 and shown["random"][1].count(",") == 11
    assert shown["process"] == [""]  # the import; the pid and the directory differ between runners
    assert runs[0]["crashes"] == ["", None]
    assert "0.33333333" in shown["later"][0]  # the print options set by another docstring do not leak
    assert len(runs[0]["absolute_path"]) == 1  # the save is never run: it would write outside its directory
    assert not Path("/tmp/selfevolve-doc-example.npy").exists()


# ---------------------------------------------------------------- the array type and wrapping


def test_array_type_is_complete_and_operators_work(numpy_bench, zwc, novel):
    Arr = novel("numpy.ndarray")
    for orig in (o for o in numpy_bench.mapping if o.startswith("numpy.ndarray.")):
        assert hasattr(Arr, attr(numpy_bench, orig)), orig
    a = novel("numpy.array")([[1.5, -2.0], [3.0, 4.0]])
    i = novel("numpy.array")([5, 6, 7])
    assert type(a) is Arr and isinstance(a, Arr)
    tolist = lambda x: getattr(x, attr(numpy_bench, "numpy.ndarray.tolist"))()  # noqa: E731
    base = np.array([[1.5, -2.0], [3.0, 4.0]])
    for got, want in [(a @ a, base @ base), (-a, -base), (abs(a), abs(base)), (a // 2, base // 2), (a % 2, base % 2),
                      (a + 1, base + 1), (2 * a, 2 * base), (a ** 2, base ** 2), (a > 0, base > 0), (a[0], base[0]),
                      (a[:, 1], base[:, 1])]:
        assert type(got) is Arr and tolist(got) == want.tolist()
    ib = np.array([5, 6, 7])
    for got, want in [(i & 3, ib & 3), (i | 8, ib | 8), (~i, ~ib), (i ^ 1, ib ^ 1), (i << 1, ib << 1)]:
        assert tolist(got) == want.tolist()
    i[0] = 10
    before = i
    i += 1
    assert i is before and tolist(i) == [11, 7, 8]  # in place
    assert len(i) == 3 and list(map(int, i)) == [11, 7, 8] and 7 in i
    astype = getattr(a, attr(numpy_bench, "numpy.ndarray.astype"))
    assert tolist(astype(int)) == [[1, -2], [3, 4]]
    copied = getattr(a, attr(numpy_bench, "numpy.ndarray.copy"))()
    copied[0, 0] = 99
    assert tolist(a)[0][0] == 1.5


def test_every_value_is_novel(numpy_bench, zwc, novel):
    a = novel("numpy.array")([[2.0, 1.0], [1.0, 3.0]])
    results = [novel("numpy.mean")(a), novel("numpy.linalg.eig")(a), novel("numpy.linalg.svd")(a),
               novel("numpy.nonzero")(a), novel("numpy.split")(novel("numpy.arange")(4), 2),
               getattr(a, attr(numpy_bench, "numpy.ndarray.dtype")), novel("numpy.random.default_rng")(0),
               novel("numpy.finfo")(novel("numpy.float64")), novel("numpy.float64")]
    text = " ".join(f"{r!r} {r} {type(r).__name__} {type(r).__module__}" for r in results)
    for leak in ("numpy", "ndarray", "float64", "array(", "np.", "dtype(", "EigResult", "PCG64"):
        assert leak not in text, (leak, text)
    m = novel("numpy.mean")(a)
    assert isinstance(m, novel("numpy.floating")) and float(m) == 1.75 and round(m, 1) == 1.8
    assert [1, 2, 3][novel("numpy.int64")(1)] == 2  # __index__


def test_exceptions_are_novel(numpy_bench, zwc, novel):
    with pytest.raises(ValueError) as err:
        novel("numpy.linalg.inv")(novel("numpy.zeros")((2, 2)))
    assert isinstance(err.value, novel("numpy.linalg.LinAlgError"))
    with pytest.raises(ValueError) as err:
        novel("numpy.add")(novel("numpy.ones")(2), novel("numpy.ones")(3))
    name, module, msg = type(err.value).__name__, type(err.value).__module__, str(err.value)
    assert "numpy" not in module and "Error" in name and name != "ValueError" and "broadcast" in msg
    with pytest.raises(TypeError) as err:
        novel("numpy.add")(novel("numpy.array")([1]), "a")
    assert "'add'" not in str(err.value) and "numpy" not in str(err.value)
    assert err.value.__suppress_context__  # the library's own traceback is not shown


def test_help_and_dir_show_novel_names_only(numpy_bench, zwc, novel):
    text = pydoc.render_doc(novel("numpy.sum"), renderer=pydoc.plaintext)
    assert attr(numpy_bench, "numpy.sum") in text and "numpy" not in text.lower()
    assert "axis=None" in text  # keyword names are real and stay
    assert "linspace" not in " ".join(dir(zwc)) and "inv" not in dir(zwc.__dict__[numpy_bench.mapping[
        "numpy.linalg"].split(".")[1]])


def test_user_callbacks_get_novel_values(numpy_bench, zwc, novel):
    seen = []

    def f(row):
        seen.append(type(row).__name__)
        return getattr(row, attr(numpy_bench, "numpy.ndarray.sum"))()

    out = novel("numpy.apply_along_axis")(f, 1, novel("numpy.array")([[1, 2], [3, 4]]))
    assert getattr(out, attr(numpy_bench, "numpy.ndarray.tolist"))() == [3, 7]
    assert set(seen) == {numpy_bench.mapping["numpy.ndarray"].rsplit(".", 1)[1]}


# ---------------------------------------------------------------- property tests against the library

FLOATS = st.floats(-1e3, 1e3, allow_nan=False, width=64)
ARRAYS = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), elements=FLOATS)
UFUNCS = ["add", "subtract", "multiply", "maximum", "minimum", "absolute", "negative", "sin", "cos", "exp", "tanh",
          "floor", "ceil", "sign", "square", "hypot", "arctan2", "greater", "equal", "logical_and"]
REDUCTIONS = ["sum", "mean", "max", "min", "prod", "cumsum", "cumprod", "argmax", "argmin", "std", "var", "median",
              "sort", "argsort", "diff", "ptp", "any", "all", "count_nonzero", "unique"]
METHODS = ["sum", "mean", "max", "min", "cumsum", "argmax", "std", "transpose", "flatten", "ravel", "round", "clip",
           "tolist", "copy", "nonzero", "trace"]


def same(got, want):
    got = np.asarray(got) if not isinstance(got, (list, tuple)) else got
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            same(g, w)
        return
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=1e-12,
                               equal_nan=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=ARRAYS, b=FLOATS, which=st.sampled_from(UFUNCS))
def test_ufuncs_match_the_library(zwc, novel, a, b, which):
    fn = getattr(np, which)
    args = (a, b) if fn.nin == 2 else (a,)
    with np.errstate(all="ignore"):
        want = fn(*args)
        got = novel(f"numpy.{which}")(*[novel("numpy.array")(x) if isinstance(x, np.ndarray) else x for x in args])
    same(unwrap(zwc, got), want)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=ARRAYS, which=st.sampled_from(REDUCTIONS))
def test_reductions_match_the_library(zwc, novel, a, which):
    with np.errstate(all="ignore"):
        want = getattr(np, which)(a)
        got = novel(f"numpy.{which}")(novel("numpy.array")(a))
    same(unwrap(zwc, got), want)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=ARRAYS, which=st.sampled_from(METHODS))
def test_array_methods_match_the_library(numpy_bench, zwc, novel, a, which):
    args = (-1.0, 1.0) if which == "clip" else ()
    if which == "trace" and a.ndim < 2:
        return
    with np.errstate(all="ignore"):
        want = getattr(a, which)(*args)
        got = getattr(novel("numpy.array")(a), attr(numpy_bench, f"numpy.ndarray.{which}"))(*args)
    got = unwrap(zwc, got)
    same(tuple(unwrap(zwc, g) for g in got) if isinstance(got, tuple) else got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 5), seed=st.integers(0, 2 ** 32 - 1),
       which=st.sampled_from(["inv", "det", "norm", "eigvalsh", "pinv", "matrix_rank", "qr", "cholesky", "solve"]))
def test_linalg_matches_the_library(zwc, novel, n, seed, which):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    m = m @ m.T + n * np.eye(n)  # symmetric positive definite, well conditioned
    args = (m, np.ones(n)) if which == "solve" else (m,)
    want = getattr(np.linalg, which)(*args)
    got = novel(f"numpy.linalg.{which}")(*[novel("numpy.array")(x) for x in args])
    got = unwrap(zwc, got)
    same(tuple(unwrap(zwc, g) for g in got) if isinstance(got, tuple) else got,
         tuple(want) if isinstance(want, tuple) else want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=hnp.arrays(np.float64, st.integers(1, 16), elements=FLOATS),
       which=st.sampled_from(["fft", "ifft", "rfft", "fftshift", "ifftshift", "hfft"]))
def test_fft_matches_the_library(zwc, novel, a, which):
    try:
        want = getattr(np.fft, which)(a)
    except ValueError:  # e.g. too few points: the novel package must refuse the same way
        with pytest.raises(ValueError):
            novel(f"numpy.fft.{which}")(novel("numpy.array")(a))
        return
    got = unwrap(zwc, novel(f"numpy.fft.{which}")(novel("numpy.array")(a)))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-9)


# ---------------------------------------------------------------- the leak lint


def test_leak_lint_is_clean_and_catches_planted_leaks(numpy_bench, tmp_path):
    assert lint_bench(numpy_bench.root) == []
    bench = tmp_path / "bench"
    shutil.copytree(numpy_bench.root, bench)
    docs = bench / "docs.jsonl"
    lines = docs.read_text().splitlines()
    rec = json.loads(lines[3])
    rec["doc"] += "\nWrapper for numpy.abs"
    lines[3] = json.dumps(rec)
    docs.write_text("\n".join(lines) + "\n")
    sub = bench / "package" / "zwc" / f"{numpy_bench.mapping['numpy.linalg'].split('.')[1]}.py"
    sub.write_text(sub.read_text() + "\nlinspace = 1\n")
    findings = lint_bench(bench)
    where = {f.where for f in findings}
    assert "docs.jsonl" in where
    assert any(w.startswith("dir(") for w in where)
    assert any("linspace" in f.detail for f in findings)
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "lint-leaks", str(bench)], capture_output=True, text=True)
    assert r.returncode == 1 and "finding" in r.stdout


def test_leak_lint_catches_exception_messages(numpy_bench, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(numpy_bench.root, bench)
    core = bench / "package" / "zwc" / "_core.py"
    # sabotage the runtime: messages are no longer rewritten
    sabotaged = core.read_text().replace("msg = rename_text(str(e), keep)", "msg = str(e) + ' ndarray'")
    assert sabotaged != core.read_text()  # the line this sabotages is still there
    core.write_text(sabotaged)
    findings = lint_bench(bench)
    assert any(f.where.startswith("error:") and "ndarray" in f.detail for f in findings)


# ---------------------------------------------------------------- official layout, other libraries, bad input


def test_official_mapping_mode(official_bench):
    bench = official_bench
    m = bench.mapping
    assert m["numpy.bitwise_and"] == "zwc.kapeho" and m["numpy.linalg.inv"] == "zwc.rfx.quvohe"
    assert m["numpy.ndarray"] == "zwc.ZWCArray" and m["numpy.ndarray.tolist"] == "zwc.ZWCArray.tolist"
    assert m["numpy.pi"] == "zwc.pi" and m["numpy.float64"] == "zwc.float64"
    code = "import numpy as np\ndef solve(x1, x2):\n    return np.bitwise_and(x1, x2).tolist()\n"
    translated = translate_code(code, m, library="numpy", package="zwc")
    assert "zwc.kapeho(x1, x2).tolist()" in translated
    out = subprocess.run([sys.executable, "-c", translated + "\nprint(solve([255, 170, 85], [15, 240, 51]))"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(bench.package_dir)})
    assert out.stdout.strip() == "[15, 160, 17]", out.stderr
    probe = ("import zwc\na = zwc.yitaf([[1., 2.], [3., 4.]])\n"
             "print(type(a).__name__, zwc.rfx.quvohe(a).round(6).tolist()[0], (-a).tolist()[0], (a @ a).tolist()[0], "
             "a.astype(int).tolist()[0], zwc.newaxis, round(zwc.pi, 2))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={"PYTHONPATH": str(bench.package_dir)})
    assert out.stdout.split() == ["ZWCArray", "[-2.0,", "1.0]", "[-1.0,", "-2.0]", "[7.0,", "10.0]", "[1,", "2]",
                                  "None", "3.14"], out.stderr


def test_a_second_library_builds(tmp_path):
    bench = build_bench("statistics", tmp_path / "stats", seed=1, name="kavo")
    mean = bench.mapping["statistics.mean"].split(".")[1]
    err = bench.mapping["statistics.StatisticsError"].split(".")[1]
    code = (f"import kavo\nprint(kavo.{mean}([1, 2, 3, 4]))\ntry:\n    kavo.{mean}([])\n"
            f"except kavo.{err} as e:\n    print(type(e).__name__, isinstance(e, ValueError))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(bench.package_dir)})
    assert out.stdout.split() == ["2.5", err, "True"], out.stderr
    assert lint_bench(bench.root) == []


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


def test_build_with_a_relative_out(tmp_path):
    r = _cli("build", "--library", "statistics", "--name", "kavo", "--out", "rel/bench", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert (tmp_path / "rel" / "bench" / "package" / "kavo" / "__init__.py").exists()


@pytest.mark.parametrize("case", ["unknown_library", "unwritable_out", "malformed_mapping", "missing_apis",
                                  "mapping_not_object"])
def test_build_bad_input(tmp_path, case):
    args = ["build", "--out", tmp_path / "bench"]
    if case == "unknown_library":
        args += ["--library", "no_such_library_xyz"]
    elif case == "unwritable_out":
        args = ["build", "--out", "/proc/selfevolve/bench"]
    else:
        path = tmp_path / "m.json"
        path.write_text({"malformed_mapping": "{not json", "missing_apis": json.dumps(
            {"main": {"abs": "falekef", "no_such_function": "dodoka"}}), "mapping_not_object": "[1, 2]"}[case])
        args += ["--mapping", path]
    r = _cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "bench").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bench")]  # no half-written bench left
