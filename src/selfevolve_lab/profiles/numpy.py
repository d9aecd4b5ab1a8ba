"""NumPy's profile: everything the bench knows of NumPy beyond what introspection finds."""

from __future__ import annotations

import random

from selfevolve_lab.profiles import LibraryProfile
from selfevolve_lab.profiles.inputs import CODES, Gen, Override, dates, floats, ints, matrix, small_int

NAME = "numpy"

# Legacy seeded random functions: keyword arguments that make each distribution valid (or the call, where
# "{}" stands for the function; without one, ``size=n`` is added).
RANDOM_KW: dict[str, str] = {
    "beta": "a=2.0, b=3.0", "binomial": "n=10, p=0.3", "chisquare": "df=3", "dirichlet": "alpha=[1.0, 2.0, 3.0]",
    "exponential": "scale=2.0", "f": "dfnum=3, dfden=5", "gamma": "shape=2.0", "geometric": "p=0.3",
    "gumbel": "loc=0.0", "hypergeometric": "ngood=5, nbad=7, nsample=4", "laplace": "loc=0.0",
    "logistic": "loc=0.0", "lognormal": "mean=0.0", "logseries": "p=0.5", "multinomial": "n=10, pvals=[0.2, 0.3, 0.5]",
    "negative_binomial": "n=5, p=0.5", "noncentral_chisquare": "df=3, nonc=1.5", "noncentral_f": "dfnum=3, dfden=5, nonc=1.0",
    "normal": "loc=0.0", "pareto": "a=3.0", "poisson": "lam=4.0", "power": "a=2.0", "rayleigh": "scale=1.0",
    "standard_cauchy": "", "standard_exponential": "", "standard_gamma": "shape=2.0", "standard_normal": "",
    "standard_t": "df=4", "triangular": "left=0.0, mode=1.0, right=3.0", "uniform": "low=0.0", "vonmises": "mu=0.0, kappa=2.0",
    "wald": "mean=1.0, scale=2.0", "weibull": "a=2.0", "zipf": "a=2.0", "random": "", "random_sample": "", "ranf": "",
    "sample": "", "rand": "{}(n)", "randn": "{}(n)", "randint": "low=0, high=10", "random_integers": "low=1, high=6",
    "choice": "a=10", "permutation": "{}(n)", "bytes": "list({}(n))",
    "multivariate_normal": "mean=[0.0, 0.0], cov=[[1.0, 0.0], [0.0, 1.0]]",
}



OVERRIDES: dict[str, Override] = {
    "einsum": Override(("a", "b"), (matrix(), None), "np.einsum('ij,jk->ik', np.array(a), np.array(b))",
                       "two square matrices `a` and `b`", "Compute the matrix product of `a` and `b` written as an "
                       "Einstein summation over the shared index"),
    "apply_along_axis": Override(("m",), (matrix(),), "np.apply_along_axis(lambda row: row.max() - row.min(), 1, np.array(m))",
                                 "a matrix `m` (a list of rows)", "For every row of `m`, compute the range (maximum minus minimum)"),
    "apply_over_axes": Override(("m",), (matrix(),), "np.apply_over_axes(np.sum, np.array(m), [0])",
                                "a matrix `m`", "Sum `m` over its first axis, keeping the dimension"),
    "fromfunction": Override(("n",), (small_int(2, 20),), "np.fromfunction(lambda i, j: i * 10 + j, (n, n))",
                             "a small integer `n`", "Build an n-by-n table whose entry (i, j) is 10*i + j"),
    "vectorize": Override(("x",), (floats(),), "np.vectorize(lambda v: v * v if v > 0 else -v)(np.array(x))",
                          "a list of numbers `x`", "Apply, element by element, the rule: square positive values, "
                          "negate the others"),
    "frompyfunc": Override(("x",), (ints(0, 9),), "np.frompyfunc(lambda v: v * 3 + 1, 1, 1)(np.array(x)).astype(int)",
                           "a list of digits `x`", "Turn a Python function (3*v + 1) into an element-wise function "
                           "and apply it"),
    "piecewise": Override(("x",), (floats(),), "np.piecewise(np.array(x), [np.array(x) < 0, np.array(x) >= 0], [-1, 1])",
                          "a list of numbers `x`", "Map negative values to -1 and the others to 1, defined by cases"),
    "select": Override(("x",), (floats(),), "np.select([np.array(x) < -2, np.array(x) > 2], [np.array(x) * 0, np.array(x) * 10], default=1.0)",
                       "a list of numbers `x`", "Choose per element: 0 where x < -2, 10*x where x > 2, else 1"),
    "busday_count": Override(("start", "end"), (dates, None), "np.busday_count(start, end)",
                             "two lists of dates `start` and `end` ('YYYY-MM-DD' strings)",
                             "Count the weekdays between each pair of dates"),
    "is_busday": Override(("dates",), (dates,), "np.is_busday(dates)", "a list of dates ('YYYY-MM-DD' strings)",
                          "Tell which dates are weekdays"),
    "busday_offset": Override(("dates", "k"), (dates, small_int(1, 9)), "np.busday_offset(dates, k, roll='forward').astype(str)",
                              "a list of dates and a number of weekdays `k`",
                              "Move each date forward by k weekdays (rolling weekends forward first)"),
    "datetime_as_string": Override(("dates",), (dates,), "np.datetime_as_string(np.array(dates, dtype='M8[D]'), unit='M')",
                                   "a list of dates ('YYYY-MM-DD' strings)", "Format each date at month precision"),
    "datetime_data": Override(("unit",), (lambda r: f"{r.randint(1, 5)}{r.choice(['D', 'h', 'm', 's', 'ms', 'us', 'W'])}",), "list(np.datetime_data(np.dtype(f'M8[{unit}]')))",
                              "a time unit code `unit` ('D', 'h', ...)", "Return the unit and count of a date-time type "
                              "with that unit"),
    "histogram_bin_edges": Override(("x", "n"), (floats(), small_int(2, 5)), "np.histogram_bin_edges(np.array(x), bins=n)",
                                    "a list of numbers `x` and a number of bins `n`", "Compute the edges of n equal bins "
                                    "spanning the data"),
    "histogram": Override(("x", "n"), (floats(), small_int(2, 5)), "[part.tolist() for part in np.histogram(np.array(x), bins=n)]",
                          "a list of numbers `x` and a number of bins `n`", "Count the values in n equal bins; return "
                          "the counts and the bin edges"),
    "histogram2d": Override(("x", "y"), (floats(n=(6, 6)), floats(n=(6, 6))), "np.histogram2d(np.array(x), np.array(y), bins=2)[0]",
                            "two lists of numbers `x` and `y` of equal length", "Count the points (x, y) in a 2-by-2 grid "
                            "of equal bins"),
    "histogramdd": Override(("x", "y"), (floats(n=(6, 6)), floats(n=(6, 6))), "np.histogramdd(np.array([x, y]).T, bins=2)[0]",
                            "two lists of numbers `x` and `y` of equal length", "Count the points in a 2-by-2 grid"),
    "meshgrid": Override(("x", "y"), (floats(n=(2, 4)), floats(n=(2, 4))), "[g.tolist() for g in np.meshgrid(np.array(x), np.array(y))]",
                         "two lists of coordinates `x` and `y`", "Build the coordinate grids of x and y"),
    "ix_": Override(("x", "y"), (ints(0, 2, (2, 3)), ints(0, 2, (2, 3))), "np.arange(9).reshape(3, 3)[np.ix_(x, y)]",
                    "two lists of indices `x`, `y` (0 to 2)", "From the 3-by-3 table 0..8, take the sub-table of rows x "
                    "and columns y"),
    "nditer": Override(("m",), (matrix(),), "[float(v) for v in np.nditer(np.array(m))]", "a matrix `m`",
                       "List the entries of m in memory order with an iterator"),
    "ndenumerate": Override(("m",), (matrix(),), "[[list(i), float(v)] for i, v in np.ndenumerate(np.array(m))]",
                            "a matrix `m`", "List every (index, value) pair of m"),
    "ndindex": Override(("n",), (small_int(1, 3),), "[list(i) for i in np.ndindex(n, 2)]", "a small integer `n`",
                        "List every index of an n-by-2 table"),
    "broadcast": Override(("x", "y"), (floats(n=(3, 3)), floats(n=(1, 1))), "list(np.broadcast(np.array(x), np.array(y)).shape)",
                          "two lists `x` and `y`", "The shape of the result of broadcasting x against y"),
    "full": Override(("n", "c"), (small_int(), lambda r: round(r.uniform(-9, 9), 1)), "np.full(n, c)",
                     "a length `n` and a value `c`"),
    "expand_dims": Override(("x",), (floats(),), "np.expand_dims(np.array(x), 0)", "a list of numbers `x`",
                            "Insert a new leading axis"),
    "reshape": Override(("x",), (floats(n=(6, 6)),), "np.reshape(np.array(x), (2, 3))", "a list of six numbers `x`",
                        "Give the values the shape of 2 rows by 3 columns"),
    "swapaxes": Override(("m",), (matrix(square=False),), "np.swapaxes(np.array(m), 0, 1)", "a matrix `m`"),
    "moveaxis": Override(("m",), (matrix(square=False),), "np.moveaxis(np.array(m), 0, -1)", "a matrix `m`"),
    "rollaxis": Override(("m",), (matrix(square=False),), "np.rollaxis(np.array(m), 1)", "a matrix `m`"),
    "broadcast_to": Override(("x",), (floats(),), "np.broadcast_to(np.array(x), (2, len(x)))", "a list of numbers `x`",
                             "Repeat the row twice by broadcasting it to two rows"),
    "digitize": Override(("x",), (floats(),), "np.digitize(np.array(x), np.array([-5.0, 0.0, 5.0]))",
                         "a list of numbers `x`", "Give the index of the bin each value falls in, for bin edges -5, 0, 5"),
    "insert": Override(("x", "c"), (floats(), lambda r: round(r.uniform(-9, 9), 1)), "np.insert(np.array(x), 1, c)",
                       "a list of numbers `x` and a value `c`", "Insert c before the element at index 1"),
    "interp": Override(("x",), (floats(),), "np.interp(np.array(x), [-10.0, 0.0, 10.0], [0.0, 1.0, 0.0])",
                       "a list of numbers `x`", "Linearly interpolate the points (-10, 0), (0, 1), (10, 0) at x"),
    "put": Override(("x", "c"), (floats(), lambda r: round(r.uniform(-9, 9), 1)),
                    "(a := np.array(x), np.put(a, [0, 2], c), a)[2]", "a list of numbers `x` and a value `c`",
                    "Replace the elements at indices 0 and 2 with c, in place, and return the array"),
    "place": Override(("x",), (floats(),), "(a := np.array(x), np.place(a, a < 0, [0.0]), a)[2]",
                      "a list of numbers `x`", "Set every negative element to 0 in place and return the array"),
    "putmask": Override(("x",), (floats(),), "(a := np.array(x), np.putmask(a, a > 0, a * 2), a)[2]",
                        "a list of numbers `x`", "Double the positive elements in place and return the array"),
    "copyto": Override(("x", "c"), (floats(), lambda r: round(r.uniform(-9, 9), 1)),
                       "(a := np.array(x), np.copyto(a, c, where=a > 0), a)[2]", "a list of numbers `x` and a value `c`",
                       "Copy c into the positive positions of the array and return it"),
    "fill_diagonal": Override(("m", "c"), (matrix(), lambda r: round(r.uniform(-9, 9), 1)),
                              "(a := np.array(m), np.fill_diagonal(a, c), a)[2]", "a square matrix `m` and a value `c`",
                              "Set the main diagonal to c in place and return the matrix"),
    "take_along_axis": Override(("m",), (matrix(),), "np.take_along_axis(np.array(m), np.argsort(np.array(m), axis=1), axis=1)",
                                "a matrix `m`", "Reorder each row by the indices that sort it"),
    "put_along_axis": Override(("m",), (matrix(),), "(a := np.array(m), np.put_along_axis(a, np.argmax(a, axis=1)[:, None], 0.0, axis=1), a)[2]",
                               "a matrix `m`", "Set the largest entry of each row to 0 in place and return the matrix"),
    "ravel_multi_index": Override(("i", "j"), (ints(0, 9, (3, 6)), ints(0, 9, (3, 6))),
                                  "np.ravel_multi_index((np.array(i[:len(j)]), np.array(j[:len(i)])), (10, 10))",
                                  "two lists of row and column indices `i` and `j` (0 to 9)",
                                  "Turn each (row, column) pair of a 10-by-10 grid into a flat index"),
    "unravel_index": Override(("x",), (ints(0, 62),), "[part.tolist() for part in np.unravel_index(np.array(x), (7, 9))]",
                              "a list of flat indices `x` (0 to 62)", "Turn flat indices into (row, column) of a 7-by-9 grid"),
    "indices": Override(("n", "k"), (small_int(1, 5), small_int(1, 5)), "np.indices((n, k))", "two small integers `n` and `k`",
                        "The grid of row indices and column indices of an n-by-k table"),
    "mask_indices": Override(("n",), (small_int(2, 20),), "[part.tolist() for part in np.mask_indices(n, np.triu)]",
                             "a small integer `n`", "The row and column indices of the upper triangle of an n-by-n table"),
    "vsplit": Override(("n",), (small_int(1, 16),), "[part.tolist() for part in np.vsplit(np.arange(n * 4).reshape(2 * n, 2), 2)]",
                       "a small integer `n`", "Split the table of 0 .. 4n-1 with 2 columns into top and bottom halves"),
    "dsplit": Override(("n",), (small_int(1, 16),), "[part.tolist() for part in np.dsplit(np.arange(n * 4).reshape(1, n, 4), 2)]",
                       "a small integer `n`", "Split a 1-by-n-by-4 block of 0 .. 4n-1 in two along the depth axis"),
    "polyfit": Override(("y",), (floats(n=(4, 8)),), "np.polyfit(np.arange(len(y)), np.array(y), 1)",
                        "a list of numbers `y`", "Fit a straight line to the points (0, y0), (1, y1), ...; return the "
                        "slope and intercept"),
    "kaiser": Override(("n",), (small_int(2, 24),), "np.kaiser(n, 5.0)", "a window length `n`",
                       "A window of length n with shape parameter 5"),
    "typename": Override(("c",), (lambda r: r.choice(list("bhilqBHILQfdgFDGSUVO?")),),
                         "np.typename(c)", "a one-letter type code `c`", "Describe a data type code in words"),
    "promote_types": Override(("a", "b"), (lambda r: r.choice(CODES), lambda r: r.choice(CODES)), "np.promote_types(a, b).str",
                              "two type codes `a` and `b` (like 'i1', 'f4')", "The code of the smallest type both can be "
                              "converted to safely"),
    "result_type": Override(("a", "b"), (lambda r: r.choice(CODES), lambda r: r.choice(CODES)), "np.result_type(a, b).str",
                            "two type codes `a` and `b`", "The code of the type an operation on both would produce"),
    "can_cast": Override(("a", "b"), (lambda r: r.choice(CODES), lambda r: r.choice(CODES)), "np.can_cast(a, b)",
                         "two type codes `a` and `b`", "Whether type a converts to type b safely"),
    "min_scalar_type": Override(("v",), (lambda r: r.choice([1, -1, 1.5]) * r.randint(1, 10 ** 6),), "np.min_scalar_type(v).str",
                                "a number `v`", "The code of the smallest type that holds v"),
    "linalg.matrix_power": Override(("m", "k"), (matrix(lo=-2, hi=2), small_int(0, 3)), "np.linalg.matrix_power(np.array(m), k)",
                                    "a square matrix `m` and a small power `k`", "Raise m to the k-th matrix power"),
    "linalg.multi_dot": Override(("a", "b"), (matrix(), None), "np.linalg.multi_dot([np.array(a), np.array(b), np.array(a)])",
                                 "two square matrices `a` and `b`", "The chained matrix product a b a"),
    "random.default_rng": Override(("seed", "n"), (small_int(0, 10 ** 6), small_int(2, 6)), "np.random.default_rng(seed).random(n)",
                                   "a seed `seed` and a count `n`", "Draw n uniform numbers from a new generator seeded "
                                   "with seed"),
    "random.shuffle": Override(("seed", "n"), (small_int(0, 10 ** 6), small_int(3, 8)),
                               "(a := np.arange(n), np.random.seed(seed), np.random.shuffle(a), a)[3]",
                               "a seed `seed` and a count `n`", "Seed the global generator, then shuffle 0 .. n-1 in place"),
    "unpackbits": Override(("x",), (ints(0, 255),), "np.unpackbits(np.array(x, dtype=np.uint8))",
                           "a list of bytes `x` (0 to 255)", "Expand each byte into its 8 bits"),
    "packbits": Override(("x",), (ints(0, 1, (8, 16)),), "np.packbits(np.array(x, dtype=np.uint8))",
                         "a list of bits `x`", "Pack the bits into bytes"),
    "sort_complex": Override(("x",), (floats(),), "np.sort_complex(np.array(x))", "a list of numbers `x`",
                             "Sort by real part, then imaginary part"),
    "roots": Override(("c",), (floats(1, 5, (3, 3)),), "np.sort_complex(np.roots(np.array(c)))",
                      "the coefficients `c` of a quadratic", "The roots of the polynomial, sorted"),
}
_ROUND_TRIP = "a list of numbers `x`"
OVERRIDES.update({
    # Files live in the run's private working directory inside the sandbox.
    "save": Override(("x",), (floats(),), "(np.save('a.npy', np.array(x)), np.load('a.npy'))[1]", _ROUND_TRIP,
                     "Save the values to a binary file named a.npy, read them back and return them"),
    "load": Override(("x",), (floats(),), "(np.save('b.npy', np.array(x)), np.load('b.npy'))[1]", _ROUND_TRIP,
                     "Write the values to b.npy in the binary array format, then load that file and return it"),
    "savez": Override(("x",), (floats(),), "(np.savez('c.npz', v=np.array(x)), np.load('c.npz')['v'])[1]", _ROUND_TRIP,
                      "Store the values under the key v in an archive c.npz, read the key back and return it"),
    "savez_compressed": Override(("x",), (floats(),), "(np.savez_compressed('d.npz', v=np.array(x)), np.load('d.npz')['v'])[1]",
                                 _ROUND_TRIP, "Store the values under the key v in a compressed archive d.npz, read "
                                 "them back and return them"),
    "savetxt": Override(("x",), (floats(),), "(np.savetxt('e.txt', np.array(x), fmt='%.2f'), open('e.txt').read())[1]",
                        _ROUND_TRIP, "Write the values to a text file e.txt, one per line with two decimals, and "
                        "return the file's text"),
    "loadtxt": Override(("x",), (floats(),), "(open('f.txt', 'w').write(' '.join(map(str, x))), np.loadtxt('f.txt'))[1]",
                        _ROUND_TRIP, "Write the values space-separated to f.txt with plain Python, then parse the "
                        "file as numbers and return them"),
    "genfromtxt": Override(("x",), (floats(),), "(open('g.txt', 'w').write(','.join(map(str, x)) + ',nan'), "
                           "np.genfromtxt('g.txt', delimiter=',', filling_values=0.0))[1][:-1]", _ROUND_TRIP,
                           "Write the values comma-separated to g.txt, parse the file as numbers and return all "
                           "but the last field"),
    "fromfile": Override(("x",), (floats(),), "(np.array(x).tofile('h.bin'), np.fromfile('h.bin'))[1]", _ROUND_TRIP,
                         "Dump the values as raw 64-bit floats to h.bin, read the raw file back and return it"),
    "fromregex": Override(("x",), (ints(0, 99),), "(open('i.txt', 'w').write(' '.join(f'n{v}' for v in x)), "
                          "np.fromregex('i.txt', r'n(\\d+)', [('v', np.int64)])['v'])[1]", "a list of integers `x` "
                          "(0 to 99)", "Write each value as 'n<value>' to i.txt, then extract the numbers with a "
                          "regular expression and return them"),
    "frombuffer": Override(("x",), (ints(0, 255),), "np.frombuffer(bytes(x), dtype=np.uint8)",
                           "a list of bytes `x` (0 to 255)", "Interpret the raw bytes as unsigned 8-bit integers"),
    "fromiter": Override(("x",), (floats(),), "np.fromiter((v * 2 for v in x), dtype=float)", _ROUND_TRIP,
                         "Build an array from a generator that doubles each value"),
    "fromstring": Override(("x",), (ints(-99, 99),), "np.fromstring(' '.join(map(str, x)), sep=' ')",
                           "a list of integers `x`", "Join the values into one space-separated string and parse it "
                           "back into numbers"),
    "set_printoptions": Override(("x", "p"), (floats(), small_int(0, 3)),
                                 "(np.set_printoptions(precision=p), np.array2string(np.array(x)), np.set_printoptions(precision=8))[1]",
                                 "a list of numbers `x` and a precision `p`", "Set the global print precision to p, "
                                 "render the values as text, then restore a precision of 8"),
    "printoptions": Override(("x", "p"), (floats(), small_int(0, 3)),
                             "(lambda: [np.array2string(np.array(x)) for _ in [np.printoptions(precision=p).__enter__()]][0])()",
                             "a list of numbers `x` and a precision `p`", "Render the values as text with print "
                             "precision p, within a temporary print setting"),
    "get_printoptions": Override(("p",), (small_int(0, 16),), "(np.set_printoptions(precision=p), np.get_printoptions()['precision'], "
                                 "np.set_printoptions(precision=8))[1]", "a precision `p`", "Set the print precision "
                                 "to p, read the current precision setting back, restore 8, and return what was read"),
    "seterr": Override(("x",), (floats(),), "(old := np.seterr(divide='ignore', invalid='ignore'), np.log(np.array(x)), "
                       "np.seterr(**old))[1]", _ROUND_TRIP, "Silence division and invalid-value warnings, take the "
                       "natural logarithm of each value, then restore the previous settings"),
    "geterr": Override(("m", "u"), (lambda r: r.choice(["ignore", "warn", "raise", "print", "log"]),
                                   lambda r: r.choice(["ignore", "warn", "raise", "print", "log"])),
                       "(old := np.seterr(over=m, under=u), [np.geterr()['over'], np.geterr()['under']], np.seterr(**old))[1]",
                       "two modes `m` and `u`", "Set the overflow mode to m and the underflow mode to u, read both "
                       "settings back and restore the previous settings"),
    "setbufsize": Override(("n",), (small_int(1, 30),), "(old := np.setbufsize(n * 8192), np.getbufsize(), np.setbufsize(old))[1]",
                           "a small integer `n`", "Set the buffer size of element-wise operations to 8192*n, read it back, "
                           "then restore the old size"),
    "getbufsize": Override(("n",), (small_int(1, 30),), "(old := np.setbufsize(n * 8192), np.getbufsize(), np.setbufsize(old))[1]",
                           "a small integer `n`", "After setting the buffer size of element-wise operations to 8192*n, "
                           "report the current buffer size (then restore it)"),
    "random.seed": Override(("seed", "n"), (small_int(0, 10 ** 6), small_int(2, 6)), "(np.random.seed(seed), np.random.rand(n))[1]",
                            "a seed `seed` and a count `n`", "Seed the global random generator with seed and draw n "
                            "uniform numbers"),
    "random.get_state": Override(("seed", "n"), (small_int(0, 10 ** 6), small_int(2, 6)),
                                 "(np.random.seed(seed), st := np.random.get_state(), np.random.rand(n), "
                                 "np.random.set_state(st), np.random.rand(n))[4]", "a seed `seed` and a count `n`",
                                 "Seed the global generator, save its state, draw n numbers, restore the saved state "
                                 "and draw n numbers again; return the second draw"),
    "random.set_state": Override(("seed", "n"), (small_int(0, 10 ** 6), small_int(2, 6)),
                                 "(np.random.seed(seed), st := np.random.get_state(), np.random.rand(3), "
                                 "np.random.set_state(st), np.random.rand(n))[4]", "a seed `seed` and a count `n`",
                                 "Seed the global generator, remember its state, draw 3 numbers, rewind to the "
                                 "remembered state and return n fresh draws"),
})

def _flag(r: random.Random) -> bool:
    return r.random() < 0.5


def _codes(r: random.Random) -> str:
    return r.choice([c for c in CODES if "f" in c] if r.random() < 0.5 else CODES)  # floating half the time


def _uniform_or_not(value: bool) -> Gen:
    """Short lists of booleans, all ``value`` half the time and else holding one ``not value`` at least."""
    def g(r: random.Random) -> list[bool]:
        k = r.randint(2, 6)
        if r.random() < 0.5:
            return [value] * k
        x = [r.random() < 0.5 for _ in range(k - 1)]
        x.insert(r.randint(0, k - 1), not value)
        return x

    return g


OVERRIDES.update({
    "ndim": Override(("x", "k"), (floats(), small_int(1, 3)), "np.ndim(np.array(x).reshape((1,) * (k - 1) + (-1,)))",
                     "a list of numbers `x` and a small integer `k`", "Give the values k axes (all but the last of "
                     "length one) and report the number of axes"),
    "iscomplexobj": Override(("x", "k"), (floats(), _flag), "np.iscomplexobj(np.array(x) * (1j if k else 1))",
                             "a list of numbers `x` and a flag `k`", "Multiply by the imaginary unit when k is true, "
                             "then tell whether the array's type is complex"),
    "isrealobj": Override(("x", "k"), (floats(), _flag), "np.isrealobj(np.array(x) * (1j if k else 1))",
                          "a list of numbers `x` and a flag `k`", "Multiply by the imaginary unit when k is true, then "
                          "tell whether the array's type is not complex"),
    "isscalar": Override(("x", "k"), (floats(), _flag), "np.isscalar(x[0] if k else x)",
                         "a list of numbers `x` and a flag `k`", "Tell whether the first value (when k is true) or the "
                         "whole list (otherwise) is a scalar"),
    "iterable": Override(("x", "k"), (floats(), _flag), "np.iterable(x if k else x[0])",
                         "a list of numbers `x` and a flag `k`", "Tell whether the list (when k is true) or its first "
                         "value (otherwise) can be iterated over"),
    "isfortran": Override(("m", "k"), (matrix(square=False), _flag),
                          "np.isfortran(np.asfortranarray(np.array(m)) if k else np.array(m))",
                          "a matrix `m` and a flag `k`", "Lay the matrix out column by column when k is true, then "
                          "tell whether it is column-major and not row-major"),
    "isnat": Override(("dates", "k"), (dates, small_int(0, 2)),
                      "np.isnat(np.array(dates[:k] + ['NaT'] + dates[k:], dtype='M8[D]'))",
                      "a list of dates and a position `k`", "Insert a not-a-time entry at position k and tell which "
                      "entries are not-a-time"),
    "astype": Override(("x",), (floats(),), "np.astype(np.array(x), np.int64)", "a list of numbers `x`",
                       "Convert the values to 64-bit integers"),
    "issubdtype": Override(("a",), (_codes,), "np.issubdtype(np.dtype(a), np.floating)", "a type code `a`",
                           "Tell whether the type with that code is a floating-point type"),
    "isdtype": Override(("a",), (_codes,), "np.isdtype(np.dtype(a), 'real floating')", "a type code `a`",
                        "Tell whether the type with that code is a real floating-point type"),
    "common_type": Override(("x", "a"), (floats(), lambda r: r.choice(["i2", "i8", "f2", "f4", "f8"])),
                            "np.dtype(np.common_type(np.array(x, dtype=a))).str", "a list of numbers `x` and a type "
                            "code `a`", "The code of the floating-point type an array of that type converts to"),
    "mintypecode": Override(("codes",), (lambda r: r.sample(["f", "d", "F", "D"], r.randint(1, 3)),),
                            "np.mintypecode(codes)", "a list of one-letter type codes", "The smallest common "
                            "floating type code for the given codes"),
    "linalg.tensorinv": Override(("m",), (matrix(),), "np.linalg.tensorinv(np.array(m), ind=1)", "a square matrix `m`",
                                 "The inverse of m seen as a tensor with one index on each side"),
})
# Inputs that give answers both ways: the validator drops a task a constant answer would pass.
OVERRIDES.update({
    "all": Override(("x",), (_uniform_or_not(True),), "np.all(np.array(x))", "a short list of booleans `x`"),
    "any": Override(("x",), (_uniform_or_not(False),), "np.any(np.array(x))", "a short list of booleans `x`"),
    "allclose": Override(("x", "d"), (floats(), lambda r: r.choice([0.0, 1e-9, 1e-3, 0.5])),
                         "np.allclose(np.array(x), np.array(x) + d)", "a list of numbers `x` and an offset `d`",
                         "Tell whether x and x shifted by d are equal within the default tolerances"),
    "array_equiv": Override(("x", "k"), (floats(), _flag), "np.array_equiv(np.array(x), np.array([x, x if k else x[::-1]]))",
                            "a list of numbers `x` and a flag `k`", "Tell whether x is, under broadcasting, the same as "
                            "the two rows x and (when k is true) x again or (otherwise) x reversed"),
    "imag": Override(("x",), (floats(),), "np.imag(np.exp(1j * np.array(x)))", "a list of numbers `x`",
                     "Take e raised to the imaginary unit times each value and return the imaginary parts"),
    "zeros": Override(("n", "c"), (small_int(1, 12), lambda r: round(r.uniform(-9, 9), 1)), "(np.zeros(n) + c)",
                      "a length `n` and a value `c`", "Build an array of n zeros, then add c to every entry"),
    "zeros_like": Override(("x", "c"), (floats(), lambda r: round(r.uniform(-9, 9), 1)), "(np.zeros_like(np.array(x)) + c)",
                           "a list of numbers `x` and a value `c`", "Build an array of zeros shaped like x, then add c "
                           "to every entry"),
    "intersect1d": Override(("x1", "x2"), (ints(0, 9), ints(0, 9)), "np.intersect1d(np.array(x1), np.array(x2))",
                            "two lists of digits `x1` and `x2`"),
    "cross": Override(("a", "b"), (floats(n=(3, 3)), floats(n=(3, 3))), "np.cross(np.array(a), np.array(b))",
                      "two vectors `a` and `b` of three numbers each"),
    "linalg.cross": Override(("a", "b"), (floats(n=(3, 3)), floats(n=(3, 3))), "np.linalg.cross(np.array(a), np.array(b))",
                             "two vectors `a` and `b` of three numbers each"),
    "shares_memory": Override(("x", "k"), (floats(), _flag), "np.shares_memory(a := np.array(x), a[1:] if k else a.copy())",
                              "a list of numbers `x` and a flag `k`", "Tell whether an array shares memory with its "
                              "slice from the second entry on (when k is true) or with a copy of itself (otherwise)"),
    "may_share_memory": Override(("x", "k"), (floats(), _flag),
                                 "np.may_share_memory(a := np.array(x), a[::2] if k else a.copy())",
                                 "a list of numbers `x` and a flag `k`", "Tell whether an array may share memory with "
                                 "every second entry of itself (when k is true) or with a copy of itself (otherwise)"),
})

# Behaviour descriptions for APIs whose own summary names another API.

SUMMARIES: dict[str, str] = {
    "expm1": "Compute e raised to each value, minus one, accurately for small values",
    "nan_to_num": "Replace not-a-number values with zero and infinities with very large finite numbers",
    "quantile": "Compute the value below which the given fraction of the data falls (here the median fraction 0.5)",
    "rad2deg": "Convert angles from radian measure to degree measure",
    "degrees": "Convert angles from radian measure to degree measure",
    "deg2rad": "Convert angles from degree measure to radian measure",
    "radians": "Convert angles from degree measure to radian measure",
    "signbit": "Tell, element by element, whether the sign bit is set", "require": "Return the values as an array "
    "that satisfies the default memory requirements", "sinc": "Compute the normalized cardinal sine of each value",
    "asanyarray": "Convert the input to an array", "asfortranarray": "Convert the input to an array laid out in "
    "column-major order", "ascontiguousarray": "Convert the input to an array that is contiguous in memory",
    "ifftshift": "Undo the shift that moves the zero-frequency term to the centre of a spectrum",
    "irfft": "Compute the inverse of the real-input one-dimensional discrete Fourier transform",
    "rfftfreq": "Return the sample frequencies of a real-input discrete Fourier transform of length n",
    "irfftn": "Compute the inverse of the real-input N-dimensional discrete Fourier transform",
    "irfft2": "Compute the inverse of the real-input two-dimensional discrete Fourier transform",
    "nanquantile": "Compute the value below which half of the data falls, ignoring not-a-number values",
    "nanpercentile": "Compute the 50th percentile of the data, ignoring not-a-number values",
    "multinomial": "Draw, for 10 trials, how many land in each of three categories", "ranf": "Draw uniform random numbers in [0, 1)",
    "sample": "Draw uniform random numbers in [0, 1)",
}

SKIP_REASON = {
    "memmap": "files", "seterrcall": "global state", "geterrcall": "global state",
    "from_dlpack": "needs a foreign array", "empty": "uninitialized memory", "empty_like": "uninitialized memory",
    "nested_iters": "iterator protocol", "random_integers": "deprecated", "row_stack": "deprecated",
}


# NumPy 1.x names removed (or deprecated) in NumPy 2 whose documented successor takes the same arguments and
# gives the same results: the NumPy 2.0 migration guide and the library's own "removed ... Use X instead"
# messages (numpy/_expired_attrs_2_0.py). Left out on purpose, because their successor is not a drop-in:
# asfarray (np.asarray with a dtype), msort (np.sort(a, axis=0)), NINF (-np.inf), cast, find_common_type.
SUCCESSORS = {
    "trapz": "trapezoid",
    "in1d": "isin",  # in1d flattens its result; for the 1-D inputs it took they agree
    "row_stack": "vstack",
    "product": "prod",
    "cumproduct": "cumprod",
    "sometrue": "any",
    "alltrue": "all",
    "round_": "round",
    "mat": "asmatrix",
    "float_": "float64",
    "complex_": "complex128",
    "cfloat": "complex128",
    "singlecomplex": "complex64",
    "longfloat": "longdouble",
    "longcomplex": "clongdouble",
    "clongfloat": "clongdouble",
    "string_": "bytes_",
    "unicode_": "str_",
    "Inf": "inf",
    "Infinity": "inf",
    "infty": "inf",
    "PINF": "inf",
    "NaN": "nan",
}

# the same computation as an API, by the API's __name__
_BINARY = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "truediv", "true_divide": "truediv",
           "floor_divide": "floordiv", "remainder": "mod", "mod": "mod", "power": "pow", "matmul": "matmul",
           "bitwise_and": "and", "bitwise_or": "or", "bitwise_xor": "xor", "left_shift": "lshift", "right_shift": "rshift"}
_SINGLE = {"negative": "neg", "positive": "pos", "absolute": "abs", "invert": "invert", "bitwise_not": "invert",
           "less": "lt", "less_equal": "le", "greater": "gt", "greater_equal": "ge", "equal": "eq", "not_equal": "ne",
           "round": "round", "around": "round"}
OPERATORS = ({api: (f"__{op}__", f"__r{op}__", f"__i{op}__") for api, op in _BINARY.items()}
             | {api: (f"__{op}__",) for api, op in _SINGLE.items()} | {"divmod": ("__divmod__", "__rdivmod__")})

# the leak lint's probes
PROBE_VALUES = ("np.array([1, 2, 3])", "np.array([[1.5, 2.0], [3.0, 4.0]])", "np.array([True, False])",
                "np.array([1, 2], dtype=np.int8)", "np.array(['a', 'bc'])", "np.float64(2.5)", "np.int64(3)",
                "np.mean(np.array([1, 2]))", "np.array([1.0]).dtype", "np.float32", "np.add", "np.linalg.eig(np.eye(2))",
                "np.random.default_rng(0)", "np.array([1, 2]).flat", "np.finfo(np.float64)", "np.arange(3).shape",
                "np.array([1 + 2j])", "np.zeros((2, 0))", "np.array([[1, 2]]).T", "np.linalg.svd(np.eye(2))")
PROBE_ERRORS = ("np.linalg.inv(np.zeros((2, 2)))", "np.add(np.ones(2), np.ones(3))", "np.ones(6).reshape(4, 5)",
                "np.ones(2) @ np.ones(3)", "np.ones(2).astype('nope')", "np.zeros(2, dtype='nope')",
                "np.sum(np.ones(2), axis=3)", "np.ones(2)[5]", "np.add(1)", "np.linalg.solve(np.ones((2, 3)), np.ones(2))",
                "np.array([1, 2]) + 'a'", "np.concatenate([np.ones(2), np.ones((2, 2))])", "np.linalg.cholesky(-np.eye(2))",
                "np.fft.fft([])", "np.random.default_rng(0).choice([], 1)", "np.arange(3).sort(axis=5)",
                "float(np.ones(3))", "np.ones(2).item(5)", "np.broadcast_to(np.ones(3), (2, 2))", "len(np.float64(1))")

PROFILE = LibraryProfile(
    NAME, alias="np", license="bsd-3-clause", submodules=("linalg", "fft", "random"),
    skip=frozenset({
        # module metadata, index-trick objects, environment and help introspection
        "__version__", "__array_namespace_info__", "ScalarType", "sctypeDict", "typecodes", "little_endian",
        "c_", "r_", "s_", "mgrid", "ogrid", "index_exp", "False_", "True_", "show_config", "show_runtime",
        "get_include", "info", "einsum_path", "test",
        # ndarray subclasses and file-backed arrays: a different object model
        "matrix", "memmap", "recarray", "record", "asmatrix", "bmat",
        # platform-dependent extended precision
        "float128", "complex256", "longdouble", "clongdouble",
        "random.bit_generator", "random.mtrand",
    }),
    print_options=("printoptions", {"legacy": "1.25"}), display_names=("NumPy", "Numpy", "NUMPY"),
    successors=SUCCESSORS,
    trivial=("numpy.array", "numpy.asarray", "numpy.asanyarray", "numpy.ascontiguousarray", "numpy.asfortranarray",
             "numpy.copy", "numpy.ndarray.copy", "numpy.ndarray.astype", "numpy.ndarray.view",
             "numpy.ndarray.tolist", "numpy.ndarray.item", "numpy.generic.item", "numpy.generic.tolist"),
    to_plain=("numpy.ndarray.tolist", "numpy.ndarray.item", "numpy.generic.item", "numpy.generic.tolist"),
    array_class="numpy.ndarray", scalar_class="numpy.generic", operators=OPERATORS,
    wrap="np.array({})", errstate=("errstate", {"all": "raise"}), random_module="random", random_kw=RANDOM_KW,
    overrides=OVERRIDES, summaries=SUMMARIES, skip_reason=SKIP_REASON,
    probe_values=PROBE_VALUES, probe_errors=PROBE_ERRORS,
)
