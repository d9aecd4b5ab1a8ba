"""Closed book, enforced in the jail at run time (`selfevolve_lab.sandbox.guard`): the red team's routes to
the original library, the package's private tables and files, its docstrings and the interpreter's
internals, each as a class with variants.

Every attack returns ``"LEAK:..."`` when it reaches what it wants. With the guard off (the jail alone)
the attacks marked ``works_unguarded`` do leak, which shows each is a real attack; with the guard on none
does, whatever the error. Code is written with placeholders the bench's mapping fills in.
"""

from __future__ import annotations

import pytest

from selfevolve_lab.sandbox import Limits, RunRequest, SandboxPool
from selfevolve_lab.sandbox.guard import STDLIB, rewrite
from selfevolve_lab.sandbox.isolation import JAIL_PACKAGE

LIMITS = Limits(cpu_s=5.0, wall_s=10.0)
DATA = f"{JAIL_PACKAGE}/zwc/_data.py"

MEM = ("class Mem:\n    def __init__(self, addr):\n"
       "        self.__array_interface__ = {'data': (addr, True), 'typestr': '<u8', 'shape': (1,), 'version': 3}\n")

# (id, code, works_unguarded): each `solve()` returns "LEAK:<what>" when the route works.
ATTACKS = [
    ("import_library", "import numpy\ndef solve():\n    return 'LEAK:' + numpy.__name__\n", True),
    ("dunder_import", "def solve():\n    return 'LEAK:' + __import__('numpy').__name__\n", True),
    ("builtins_import", "def solve():\n    return 'LEAK:' + __builtins__['__import__']('numpy').__name__\n", False),
    ("import_private_module", "import zwc._core as c\ndef solve():\n    return 'LEAK:' + c.LIB.__name__\n", True),
    ("from_private", "from zwc import _core\ndef solve():\n    return 'LEAK:' + _core.LIB.__name__\n", True),
    ("computed_getattr", "import zwc\ndef solve():\n    return 'LEAK:' + getattr(zwc, '_' + 'core').LIB.__name__\n",
     True),
    ("pydoc_locate", "import pydoc\ndef solve():\n    return 'LEAK:' + pydoc.locate('zwc._core').LIB.__name__\n", True),
    ("formatter_get_field", "import string, zwc\ndef solve():\n"
     "    return 'LEAK:' + string.Formatter().get_field('0._core', [zwc], {})[0].LIB.__name__\n", True),
    ("attrgetter_renamed", "import zwc\nfrom operator import attrgetter as g\ndef solve():\n"
     "    return 'LEAK:' + g('_core.LIB.__name__')(zwc)\n", True),
    ("operator_module_attrgetter", "import zwc, operator\ndef solve():\n"
     "    return 'LEAK:' + operator.attrgetter('_core.LIB.__name__')(zwc)\n", True),
    ("xmlrpc_resolve", "import xmlrpc.server as x\ndef solve():\n"
     "    return 'LEAK:' + x.resolve_dotted_attribute(x, 'sys.modules', True)['numpy'].__name__\n", True),
    ("doctest_globs", "import zwc, doctest\ndef solve():\n"
     "    return 'LEAK:' + str([t.globs['_core'] for t in doctest.DocTestFinder().find(zwc) if '_core' in t.globs][0])\n",
     False),
    ("type_hints_eval", "import typing, zwc\ndef f(x: 'zwc._core.LIB'):\n    pass\ndef solve():\n    try:\n"
     "        t = str(typing.get_type_hints(f))\n    except Exception as e:\n        t = str(e)\n"
     "    return 'LEAK:' + t if 'numpy' in t else 'no'\n", True),
    ("singledispatch_eval", "import functools, zwc\n@functools.singledispatch\ndef g(x):\n    return 0\n"
     "def solve():\n    @g.register\n    def _(x: 'zwc._core.LIB.ndarray'):\n        return 1\n"
     "    return 'LEAK:' + str(list(g.registry))\n", True),
    ("timeit_exec", "import timeit\ndef solve():\n    out = []\n"
     "    timeit.Timer('import numpy; out.append(numpy.__name__)', globals={'out': out}).timeit(1)\n"
     "    return 'LEAK:' + out[0]\n", True),
    ("logging_resolve", "import logging.config\ndef solve():\n"
     "    return 'LEAK:' + logging.config.BaseConfigurator({}).resolve('numpy').__name__\n", True),
    ("help_redirect", "import io, contextlib, zwc\ndef solve():\n    b = io.StringIO()\n"
     "    with contextlib.redirect_stdout(b):\n        help(zwc.{cumsum})\n    return 'LEAK:' + b.getvalue()[:40]\n",
     True),
    ("docstring", "import zwc\ndef solve():\n    return 'LEAK:' + zwc.{cumsum}.__doc__[:40]\n", False),
    ("module_dict", "import zwc\ndef solve():\n    return 'LEAK:' + str(len(zwc.__dict__))\n", True),
    ("vars_dir", "import zwc\ndef solve():\n    return 'LEAK:' + str(len(vars(zwc)) + len(dir(zwc)))\n", True),
    ("subclasses_walk", "def solve():\n"
     "    cs = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'ndarray']\n"
     "    return 'LEAK:' + cs[0].__module__\n", True),
    ("function_globals", "import zwc\ndef solve():\n"
     "    return 'LEAK:' + str(list(zwc.{cumsum}.__globals__)[:3])\n", True),
    ("globals_via_getattr", "import zwc\ndef solve():\n"
     "    return 'LEAK:' + str(getattr(zwc.{cumsum}, '__glob' + 'als__')['LIB'])\n", True),
    ("generator_frame", "def solve():\n    g = (i for i in [1])\n"
     "    return 'LEAK:' + str(list(g.gi_frame.f_back.f_globals)[:3])\n", False),
    ("traceback_frame", "def solve():\n    try:\n        1 / 0\n    except Exception as e:\n"
     "        f = e.__traceback__.tb_frame\n        while f.f_back is not None:\n            f = f.f_back\n"
     "        return 'LEAK:' + str(sorted(f.f_globals)[:5])\n", True),
    ("gc_objects", "import gc\ndef solve():\n"
     "    return 'LEAK:' + str([type(o).__module__ for o in gc.get_objects() if type(o).__name__ == 'ndarray'][:1])\n",
     True),
    ("star_import", "from zwc import *\ndef solve():\n    return 'LEAK:' + str({cumsum}([1, 2]))\n", True),
    ("open_data_file", f"def solve():\n    return 'LEAK:' + open({DATA!r}).read(20)\n", True),
    ("io_open_data_file", f"import io\ndef solve():\n    return 'LEAK:' + io.open({DATA!r}).read(20)\n", True),
    ("package_reads_data_file", f"import zwc\ndef solve():\n"
     f"    return 'LEAK:' + str(zwc.{{fromfile}}({DATA!r}, dtype='u1')[:20].{{tolist}}())\n", True),
    ("linecache_via_warnings", f"import warnings\ndef solve():\n"
     f"    s = warnings.formatwarning('m', UserWarning, {DATA!r}, 1)\n"
     f"    return 'LEAK:' + s if len(s.splitlines()) > 1 else 'no source line'\n", True),
    ("module_attribute_module", "import statistics\ndef solve():\n"
     "    return 'LEAK:' + statistics.sys.modules['numpy'].__name__\n", True),
    ("format_walk", "import zwc\ndef solve():\n    return 'LEAK:' + '{0._core.LIB.__name__}'.format(zwc)\n", True),
    ("format_walk_unbound", "import zwc\ndef solve():\n"
     "    return 'LEAK:' + str.format('{0._core.LIB.__name__}', zwc)\n", True),
    ("format_map_walk", "import zwc\ndef solve():\n"
     "    return 'LEAK:' + '{z._core.LIB.__name__}'.format_map({'z': zwc})\n", True),
    ("subclass_reads_slot", "import zwc\nclass A(zwc.{Array}):\n    pass\ndef solve():\n"
     "    a = zwc.{array}([1, 2])\n    return 'LEAK:' + type(a._v).__module__\n", True),
    ("own_rule_mangled", "import zwc\ndef solve():\n    a = zwc.{array}([1, 2])\n"
     "    return 'LEAK:' + type(getattr(a, '_v')).__module__\n", True),
    ("eval_builtin", "def solve():\n    return 'LEAK:' + eval('__import__(\"numpy\").__name__')\n", True),
    ("class_pattern_reads", "import zwc\ndef solve():\n    match zwc:\n"
     "        case object(_core=c):\n            return 'LEAK:' + c.LIB.__name__\n", True),
    ("reserved_hook_name", "def solve():\n    _SE_ga = lambda o, n: 'LEAK:x'\n    return 'x'.upper\n", False),
    # the third red team: a dotted value pattern, rewritten into a call, read back as a class pattern whose
    # class is a hook rebound by a class statement (a name no ast.Name check saw): the builtins natively
    ("match_value_rebinds_hook", "import zwc\nV = zwc.{cumsum}\nclass M(type):\n"
     "    def __instancecheck__(cls, obj):\n        return True\n"
     "class _SE_ga(metaclass=M):\n    __match_args__ = ('__globals__', '__name__')\n"
     "def solve():\n    match V:\n        case g.{cumsum}:\n"
     "            b = g['__builtins__']\n"  # no attribute read from here on: each would call the rebound hook
     "            return 'LEAK:' + b['getattr'](b['__import__']('numpy'), '__name__')\n    return 'no'\n", False),
    # the fifteenth: a run's own __builtins__ (its __import__ returns any object; `from m import x` reads x
    # natively), and a facade renamed by ModuleType.__init__ so that `from m import x` falls back to
    # sys.modules["numpy.x"]
    ("rebound_builtins_import_from", "import zwc\nT = [zwc.{cumsum}]\n"
     "def _imp(name, g=None, l=None, fromlist=(), level=0):\n    return T[0]\n"
     "__builtins__ = {'__import__': _imp, 'type': type, 'dict': dict}\ndef solve():\n    from anything import __globals__ as G\n"
     "    b = G['__builtins__']\n    b = b if type(b) is dict else b.__dict__\n"
     "    return 'LEAK:' + b['getattr'](b['__import__']('numpy'), '__name__')\n", True),
    ("facade_renamed_import_fallback", "import zwc\ndef solve():\n    super(type(zwc), zwc).__init__('numpy')\n"
     "    from zwc import linalg\n    return 'LEAK:' + repr(linalg)\n", False),  # a real module is no facade
    # the sixteenth: a metaclass that returns a class that exists made it "the run's own" to the guard
    ("metaclass_returns_existing_class", "import zwc\nF = zwc.{cumsum}\n"
     "class Mark(metaclass=lambda *a: type(F)):\n    pass\ndef solve():\n    b = F.__globals__['__builtins__']\n"
     "    b = b if type(b) is dict else vars(b)\n"
     "    return 'LEAK:' + b['getattr'](b['__import__']('numpy'), '__name__')\n", False),
    ("match_value_reads_natively", "import zwc\nclass K:\n    pass\ndef solve():\n    k = K()\n"
     "    k.a = zwc\n    match zwc:\n        case k.a._core:\n            return 'no'\n"
     "        case _:\n            return 'LEAK:' + 'no error: the pattern read _core'\n", True),
    ("super_dunder_walk", "import zwc\nclass A:\n    def f(self):\n"
     "        return super().__getattribute__.__self__.__class__.__mro__\ndef solve():\n"
     "    return 'LEAK:' + str(A().f())\n", True),
    # admitted standard-library code that reads or writes an attribute by a name its caller chose (the second
    # red team's door to everything: the package's namespace, its table, the library behind each wrapper)
    ("update_wrapper_sink", "import functools, zwc\nB = {}\nclass S:\n    def __setattr__(self, k, v):\n"
     "        B[k] = v\ndef solve():\n    functools.update_wrapper(S(), zwc, assigned=('__dict__',), updated=())\n"
     "    return 'LEAK:' + str(sorted(B['__dict__'])[:3])\n", False),
    ("update_wrapper_closure", "import functools, zwc\nB = {}\nclass S:\n    def __setattr__(self, k, v):\n"
     "        B[k] = v\ndef solve():\n"
     "    functools.update_wrapper(S(), zwc.{cumsum}, assigned=('__closure__',), updated=())\n"
     "    return 'LEAK:' + B['__closure__'][0].cell_contents.__name__\n", False),
    ("wraps_updated_dict", "import functools, zwc\ndef f():\n    pass\ndef solve():\n"
     "    g = functools.wraps(zwc, assigned=(), updated=('__dict__',))(f)\n"
     "    return 'LEAK:' + str(g._core)\n", False),
    ("reduce_over_getattr", "import functools, zwc\ndef solve():\n"
     "    return 'LEAK:' + str(functools.reduce(getattr, ['_core', 'LIB'], zwc))\n", False),
    ("trampoline_through_the_package", "import functools, zwc\nB = {}\nclass S:\n"
     "    def __setattr__(self, k, v):\n        B[k] = v\n"
     "def solve():\n    f = functools.partial(functools.update_wrapper, S(), assigned=('__dict__',), updated=())\n"
     "    zwc.{vectorize}(f, otypes=[object])(zwc.{array}([zwc], dtype=object))\n"
     "    return 'LEAK:' + str(sorted(B['__dict__'])[:3])\n", False),
    # looking a name up by guessing it (the code never spells it): brute force over pronounceable strings
    ("computed_public_name", "import zwc\ndef solve():\n    n = ''.join(map(chr, {cumsum_ords}))\n"
     "    return 'LEAK:' + str(getattr(zwc, n)([1, 2]).{tolist}())\n", True),
    ("hasattr_scan", "import zwc\ndef solve():\n    cands = ['abcde', ''.join(map(chr, {cumsum_ords}))]\n"
     "    found = [c for c in cands if hasattr(zwc, c)]\n    return 'LEAK:' + str(found) if found else 'none'\n", True),
    ("update_wrapper_public_scan", "import functools, zwc\nclass Box:\n    pass\ndef solve():\n"
     "    b = Box()\n    names = ['abcde', ''.join(map(chr, {cumsum_ords}))]\n"
     "    functools.update_wrapper(b, zwc, assigned=names, updated=())\n"
     "    found = [n for n in names if n in vars_of(b)]\n    return 'LEAK:' + str(found) if found else 'none'\n"
     "def vars_of(b):\n    return b.__dict__\n", True),
    ("computed_submodule_import", "import zwc\ndef solve():\n    sub = ''.join(map(chr, {fft_module_ords}))\n"
     "    return 'LEAK:' + __import__('zwc.' + sub).__name__\n", True),
    # code the run writes, evaluated by library code: dataclasses pasted field names into its generated code
    ("dataclass_field_injection", "import zwc, dataclasses\n"
     "INJ = 'x)if(self.f(self.m.__dict' + '__))else(self.x'\nclass K:\n    __annotations__ = {INJ: int}\n"
     "def solve():\n    got = []\n"
     "    C = dataclasses.dataclass(init=False, repr=False, eq=False, unsafe_hash=True)(K)\n    o = C()\n"
     "    o.x, o.m, o.f = 1, zwc, lambda d: got.append(d)\n    hash(o)\n"
     "    return 'LEAK:' + str(sorted(got[0])[:3])\n", True),
    # the run's own memory, where the package's table and the guard's state are
    ("proc_self_mem", "import io, zwc\ndef solve():\n    with io.open('/proc/self/mem', 'rb') as f:\n"
     "        f.seek(id(zwc))\n        return 'LEAK:' + f.read(16).hex()\n", False),  # the jail refuses it too
    # attribute reads in C, by a name the run chooses: a class pattern's __match_args__, and objects that
    # forward a lookup to what they wrap
    ("match_args_getattr", "import zwc\ndef ga(obj, name):\n    class M(type):\n"
     "        def __instancecheck__(cls, o):\n            return True\n    class S(metaclass=M):\n"
     "        __match_args__ = (name,)\n    match obj:\n        case S(v):\n            return v\n"
     "def solve():\n    return 'LEAK:' + str(sorted(ga(zwc, '__di' + 'ct__'))[:3])\n", True),
    ("generic_alias_forwards", "import zwc\ndef solve():\n    ga = type(list[int])(zwc, ())\n"
     "    return 'LEAK:' + str(getattr(ga, ''.join(map(chr, {cumsum_ords})))([1, 2]).{tolist}())\n", True),
    # library code that reads or writes a module's namespace by the module's name (enum's _convert_ and
    # global_enum), and a standard-library class's private methods copied out of its __dict__
    ("enum_convert_lists_a_module", "import enum\ndef solve():\n    got = []\n"
     "    enum.IntEnum._convert_('X', 'zwc._core', lambda n: got.append(n) or False)\n"
     "    return 'LEAK:' + str(sorted(got)[:5])\n", True),
    ("update_wrapper_class_dict", "import functools\nclass W:\n    def __init__(self):\n        self.d = {}\n"
     "    @property\n    def __dict__(self):\n        return self.d\ndef solve():\n    w = W()\n"
     "    functools.update_wrapper(w, functools.partialmethod, assigned=(), updated=('__dict__',))\n"
     "    private = [k for k in w.d if k.startswith('_') and not k.endswith('__')]\n"
     "    return 'LEAK:' + str(private) if private else 'none'\n", True),
    # a module the run may not import, read by library code by a name the run sets, and a module's
    # globals rewritten so that library code reads another module
    ("redirect_stdout_reads_sys", "import contextlib\nkept = []\nclass R(contextlib.redirect_stdout):\n"
     "    _stream = 'modules'\n    _old_targets = kept\n    def __init__(self):\n        pass\n"
     "def solve():\n    try:\n        R().__enter__()\n    except Exception:\n        pass\n"
     "    return 'LEAK:' + str('numpy' in kept[0])\n", True),
    ("module_global_rewritten", "import contextlib, json\ndef solve():\n    contextlib.sys = json\n"
     "    return 'LEAK:' + str(contextlib.sys is json)\n", True),
    # library code reading or writing a module's __dict__ in plain attribute syntax: copy's _reconstruct
    # wrote into a module, abc.update_abstractmethods listed one (the seventh red team's translator)
    ("update_abstractmethods_lists_a_module", "import abc, copy, zwc\nSEEN = []\n"
     "def spy(obj, name, default=None):\n    SEEN.append(obj)\n    return default\n"
     "def poke(mod, state):\n    class W:\n        def __reduce_ex__(self, proto):\n"
     "            return (lambda: mod, (), state)\n    copy.copy(W())\n"
     "def solve():\n    poke(abc, {'getattr': spy, 'hasattr': lambda o, n: True})\n    poke(zwc, {'__bases__': ()})\n"
     "    try:\n        abc.update_abstractmethods(zwc)\n    except BaseException:\n        pass\n"
     "    return 'LEAK:' + str(len(SEEN)) if len(SEEN) > 10 else 'none'\n", True),
    # guessing with the guesses spelled as string constants (7,000 in one run), and the library's dispatch
    # hooks, which hand the run's object the library's own function (its __name__ the original name)
    ("spelled_guesses", "import functools, zwc\nfound = {}\nclass S:\n    def __setattr__(self, k, v):\n"
     "        found[k] = v\nC = [" + ", ".join(repr(f"q{i:03d}x") for i in range(100)) + ", '{cumsum}']\n"
     "def solve():\n    functools.update_wrapper(S(), zwc, assigned=C, updated=())\n"
     "    hits = [k for k in found if not k.startswith('_')]\n"
     "    return 'LEAK:' + str(hits) if hits else 'none'\n", True),
    ("array_function_spy", "import zwc\nseen = []\nclass Spy:\n"
     "    def __array_function__(self, func, types, args, kwargs):\n        seen.append(func.__name__)\n"
     "        return 0\n    def __array_ufunc__(self, ufunc, method, *a, **k):\n        seen.append(ufunc.__name__)\n"
     "        return 0\ndef solve():\n    try:\n        zwc.{cumsum}(Spy())\n    except Exception:\n        pass\n"
     "    return 'LEAK:' + str(seen) if seen else 'none'\n", False),
    ("import_from_falls_back_to_the_real_submodule", "import zwc\n" + "".join(
        f"try:\n    from zwc import qq{i}\nexcept ImportError:\n    pass\n" for i in range(70))
     + "def solve():\n    try:\n        from zwc import {fft_module} as sub\n    except Exception:\n"
     "        return 'none'\n    return 'LEAK:' + type(sub).__name__ if type(sub).__name__ != '_Facade' else 'none'\n",
     True),
    ("array_function_spy_posing_as_the_library", "import zwc\nseen = []\nclass Spy:\n    __module__ = 'numpy'\n"
     "    def __array_function__(self, func, types, args, kwargs):\n        seen.append(func.__name__)\n"
     "        return 0\n    def __array_ufunc__(self, ufunc, method, *a, **k):\n        seen.append(ufunc.__name__)\n"
     "        return 0\ndef solve():\n    try:\n        zwc.{cumsum}(Spy())\n    except Exception:\n        pass\n"
     "    return 'LEAK:' + str(seen) if seen else 'none'\n", False),
    # the tenth red team: a standard registry that held the library's own reducers (then raw arrays), and
    # objects the library reads as raw memory at an address they name, however the run makes or hides them
    ("stdlib_registry_holds_library_objects", "import copy\ndef solve():\n"
     "    hits = [repr(k) for k in copy.dispatch_table if 'numpy' in repr(k)]\n"
     "    return 'LEAK:' + str(hits)[:80] if hits else 'none'\n", True),
    *[(f"memory_{how}", "import zwc, struct\n" + cls + "def solve():\n    b = struct.pack('<Q', 4242424242)\n"
       "    try:\n        v = " + call + "\n    except Exception:\n        return 'none'\n"
       "    return 'LEAK:' + str(v) if '4242424242' in str(v) else 'none'\n", False) for how, cls, call in [
        ("instance_attribute", MEM, "zwc.{cumsum}(Mem(id(b) + 32)).{tolist}()"),
        ("class_property", "class Mem:\n    def __init__(self, addr):\n        self.addr = addr\n    @property\n"
         "    def __array_interface__(self):\n        return {'data': (self.addr, True), 'typestr': '<u8', "
         "'shape': (1,), 'version': 3}\n", "zwc.{cumsum}(Mem(id(b) + 32)).{tolist}()"),
        ("type_call", "", "zwc.{cumsum}(type('M', (), {'__array_interface__': {'data': (id(b) + 32, True), "
         "'typestr': '<u8', 'shape': (1,), 'version': 3}})()).{tolist}()"),
        ("class_itself", "", "zwc.{cumsum}(type('M', (), {'__array_interface__': {'data': (id(b) + 32, True), "
         "'typestr': '<u8', 'shape': (1,), 'version': 3}})).{tolist}()"),
        ("nested_deep", MEM, "zwc.{array}([[[[[Mem(id(b) + 32)]]]]]).{tolist}()"),
        ("duck_sequence", MEM + "class Seq:\n    def __init__(self, m):\n        self.m = m\n"
         "    def __len__(self):\n        return 1\n    def __getitem__(self, i):\n"
         "        if i:\n            raise IndexError(i)\n        return self.m\n",
         "zwc.{array}(Seq(Mem(id(b) + 32))).{tolist}()"),
        ("item_assignment", MEM, "(lambda a: (a.__setitem__(slice(0, 1), Mem(id(b) + 32)), a.{tolist}()))("
         "zwc.{array}([0], dtype='uint64'))[1]"),
        ("generator", MEM, "zwc.{array}(list(Mem(id(b) + 32) for _ in range(1))).{tolist}()"),
    ]],
    # the eleventh: a facade renamed by calling its __init__ passed for another module (operator's
    # attrgetter, hidden by name, then read the package's private attributes in C)
    ("facade_renamed", "import operator, zwc\ndef solve():\n    operator.__init__('renamed')\n"
     "    return 'LEAK:' + type(operator.attrgetter('_v')(zwc.{array}([1]))).__name__\n", True),
    # a thirteenth: an opener turns a path of the run's directory into any descriptor (the result pipe's)
    *[(f"opener_{how}", "import io\ndef solve():\n    f = " + call + "\n    return 'LEAK:' + str(f.fileno())\n",
       True) for how, call in [
        ("open", "open('y', 'rb', buffering=0, opener=lambda p, fl: 0)"),
        ("open_positional", "open('y', 'rb', 0, None, None, None, True, lambda p, fl: 0)"),
        ("io_open", "io.open('y', 'rb', buffering=0, opener=lambda p, fl: 0)"),
        ("io_fileio", "io.FileIO('y', 'r', opener=lambda p, fl: 0)")]],
    ("io_fileio_reads_outside_the_run", "import io\ndef solve():\n"
     "    return 'LEAK:' + io.FileIO(" + repr(__import__("os").__file__) + ").read(12).decode()\n", True),
    # str.format reached through super(S, s): its fields read attributes natively (a red team, 2026-12-08)
    ("super_format", "import zwc\nclass S(str):\n    pass\ndef solve():\n"
     "    return 'LEAK:' + super(S, S('{0.__globals__[LIB].__name__}')).format(zwc.{cumsum})\n", True),
    ("super_format_map", "import zwc\nclass S(str):\n    pass\ndef solve():\n"
     "    return 'LEAK:' + super(S, S('{f.__globals__[LIB].__name__}')).format_map({'f': zwc.{cumsum}})\n", True),
    ("super_format_guard", "class S(str):\n    pass\ndef solve():\n"
     "    return 'LEAK:' + super(S, S('{0.__func__.__globals__[__file__]}')).format(getattr)\n", False),
    ("super_format_by_getattr", "import zwc\nclass S(str):\n    pass\ndef solve():\n"
     "    return 'LEAK:' + getattr(super(S, S('{0.__globals__[LIB].__name__}')), 'format')(zwc.{cumsum})\n", True),
    ("coroutine_frame", "async def c():\n    return 1\ndef solve():\n    co = c()\n    f = co.cr_frame\n    co.close()\n"
     "    return 'LEAK:' + str(list(f.f_back.f_globals)[:3])\n", False),
]



def _shadow_module_attack() -> str:
    """A module file the run writes into its directory under an admitted module's name, as source and as a
    sourceless .pyc whose code claims a standard-library file name: imported, either would run with the real
    builtins (the exec rule trusts a module file outside the run's directory, and a .pyc names its own
    file). Closed today because every admitted module is loaded before the run; this keeps it so."""
    import importlib.util
    import marshal

    body = "import sys\nLEAK = 'LEAK:' + ','.join(k for k in sys.modules if k.startswith('numpy'))\n"
    code = "def solve():\n"
    for m in sorted(STDLIB):
        top = m.split(".")[0]
        pyc = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(
            compile(body, f"/usr/lib/python3/{top}.py", "exec"))
        code += (f"    open({top + '.pyc'!r}, 'wb').write({pyc!r})\n"
                 f"    open({top + '.py'!r}, 'w').write({body!r})\n")
    for m in sorted(STDLIB):
        code += (f"    try:\n        import {m} as mod\n        if getattr(mod, 'LEAK', None):\n"
                 f"            return mod.LEAK\n    except Exception:\n        pass\n")
    return code + "    return 'no'\n"


ATTACKS.append(("shadow_an_admitted_module", _shadow_module_attack(), False))

@pytest.fixture(scope="module")
def pool(numpy_bench):
    if not __import__("shutil").which("bwrap"):
        pytest.skip("bubblewrap is not installed (make test installs it)")
    p = SandboxPool.for_bench(numpy_bench, workers=2, limits=LIMITS, isolation_level="bwrap")
    yield p
    p.close()


@pytest.fixture(scope="module")
def names(numpy_bench):
    m = numpy_bench.mapping
    short = {k: m[v].rsplit(".", 1)[-1] for k, v in {"cumsum": "numpy.cumsum", "fromfile": "numpy.fromfile",
                                                     "tolist": "numpy.ndarray.tolist", "array": "numpy.array",
                                                     "Array": "numpy.ndarray", "vectorize": "numpy.vectorize"}.items()}
    short["fft_module"] = m["numpy.fft.fft"].split(".")[1]
    # a name the code computes without spelling it (a guess, as a brute force makes them)
    short.update({f"{k}_ords": str([ord(c) for c in short[k]]) for k in ("cumsum", "fft_module")})
    return short


def _fill(code: str, names: dict[str, str]) -> str:
    for k, v in names.items():
        code = code.replace("{" + k + "}", v)
    return code


def _leaks(r) -> bool:
    return r.status == "ok" and r.outcomes[0].ok and str(r.outcomes[0].value).startswith("LEAK:")


@pytest.mark.parametrize("name,code,works_unguarded", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_closed_book_attack_never_leaks(pool, names, name, code, works_unguarded):
    code = _fill(code, names)
    guarded = pool.run(RunRequest(code, "solve", [{}]))
    assert not _leaks(guarded), (guarded.status, guarded.detail, guarded.outcomes)
    if works_unguarded:
        jail_only = pool.run(RunRequest(code, "solve", [{}], closed_book=False))
        assert _leaks(jail_only) or name.startswith(("open_", "io_open", "package_reads", "linecache")), (
            "the attack does not work even without the guard: it tests nothing", jail_only)
    after = pool.run(RunRequest(_fill("import zwc\ndef solve(x):\n    return zwc.{cumsum}(x).{tolist}()\n", names),
                                "solve", [{"x": [1, 2, 3]}]))
    assert after.status == "ok" and after.outcomes[0].value == [1, 3, 6], after


def test_the_package_files_are_unreadable_even_for_the_jail_alone_only_by_the_guard(pool):
    """The jail binds the package directory read-only: without the guard its private table is readable,
    with it not (the audit hook refuses any open under it, whoever asks)."""
    code = f"def solve():\n    return 'LEAK:' + open({DATA!r}).read(20)\n"
    assert _leaks(pool.run(RunRequest(code, "solve", [{}], closed_book=False)))
    assert not _leaks(pool.run(RunRequest(code, "solve", [{}])))


def test_the_package_translates_what_the_library_says_not_what_it_is_told(pool, names, numpy_bench):
    """A keyword argument, a string argument or a text array's data named after an original function came
    back renamed to its novel name (an error message, a repr): an oracle a red team used to translate every
    name it wanted. The library's own words are still renamed."""
    absolute = numpy_bench.mapping["numpy.absolute"].rsplit(".", 1)[-1]
    code = _fill("import zwc\ndef solve():\n    try:\n        zwc.{cumsum}([1], absolute=1)\n"
                 "    except Exception as e:\n        msg = str(e)\n"
                 "    return [msg, repr(zwc.{array}(['absolute', 'cumsum']))]\n", names)
    for closed_book in (True, False):
        r = pool.run(RunRequest(code, "solve", [{}], closed_book=closed_book))
        msg, rep = r.outcomes[0].value
        assert "'absolute'" in msg and absolute not in msg and names["cumsum"] in msg, msg  # its own name: renamed
        assert "'absolute'" in rep and "'cumsum'" in rep and absolute not in rep and names["cumsum"] not in rep, rep


def test_the_package_docstrings_are_gone_in_the_jail(pool, names):
    """Closed book needs no docs: even code past the guard finds none on the package's objects."""
    code = _fill("import zwc\ndef solve():\n    return [zwc.__doc__, zwc.{cumsum}.__doc__, zwc.{Array}.__doc__]\n",
                 names)
    r = pool.run(RunRequest(code, "solve", [{}], closed_book=False))
    assert r.status == "ok" and r.outcomes[0].value == [None, None, None], r


HONEST = [
    ("str_format_every_way", "class S(str):\n    pass\ndef solve(x):\n"
     "    return ['{} {:.1f}'.format(1, x[0]), super(S, S('<{0}>')).format(2), str.format('{a}', a=3),"
     " '{k}'.format_map({'k': 4}), getattr('{}!', 'format')(5)]\n",
     ["1 1.0", "<2>", "3", "4", "5!"]),
    ("stdlib_mix", "import math, itertools, functools, collections, statistics, zwc\n"
     "from typing import List\nfrom collections import Counter, namedtuple\nP = namedtuple('P', 'a b')\n"
     "def solve(x: List[float]) -> list:\n    c = Counter(int(v) for v in x)\n"
     "    s = functools.reduce(lambda a, b: a + b, x, 0.0)\n"
     "    return [float(v) for v in zwc.{cumsum}(x).{tolist}()] + [math.floor(s), len(c), P(1, 2).a,"
     " statistics.mean(x), '{:.1f}'.format(s), f'{s:.2f}', list(itertools.accumulate([1, 2]))]\n",
     [1.0, 3.0, 6.0, 6, 3, 1, 2.0, "6.0", "6.00", [1, 3]]),
    ("values_of_many_kinds_reach_the_library", "import collections, fractions, zwc\n"
     "P = collections.namedtuple('P', 'a b')\ndef solve(x):\n    c = zwc.{cumsum}\n"
     "    return [c(collections.deque(x)).{tolist}(), c(P(1, 2)).{tolist}(), c(range(3)).{tolist}(),"
     " c({'a': 1.0}.values()).{tolist}(), c(v for v in [2]).{tolist}() if False else 0,"
     " float(c([fractions.Fraction(1, 2)]).{tolist}()[0]), c(tuple(x)).{tolist}()]\n",
     [[1.0, 3.0, 6.0], [1, 3], [0, 1, 3], [1.0], 0, 0.5, [1.0, 3.0, 6.0]]),
    ("own_class_private", "import zwc\nclass Acc:\n    def __init__(self):\n        self._n = 0\n        self.__m = 1\n"
     "    def add(self, v):\n        self._n += v\n        self.__m *= 2\n        return self._n + self.__m\n"
     "def solve(x):\n    a = Acc()\n    for v in zwc.{cumsum}(x).{tolist}():\n        r = a.add(v)\n    return r\n", 18),
    ("stdlib_decorators", "import functools, contextlib, copy, zwc\nfrom typing import NamedTuple\n"
     "class P(NamedTuple):\n    a: int\n    b: float = 0.5\nclass Q:\n    def __init__(self, v):\n        self.v = v\n"
     "@functools.lru_cache(None)\ndef sq(v):\n    return v * v\n"
     "@contextlib.contextmanager\ndef ctx():\n    yield 2\ndef deco(f):\n    @functools.wraps(f)\n"
     "    def g(*a):\n        return f(*a)\n    return g\n@deco\ndef twice(v):\n    return 2 * v\n"
     "def solve(x):\n    with ctx() as k:\n        p = copy.deepcopy(P(k))\n        q = copy.deepcopy(Q([k]))\n"
     "    return [sq(p.a), twice(p.b), twice.__name__, p._asdict(), q.v, zwc.{cumsum}(x).{tolist}()[-1]]\n",
     [4, 1.0, "twice", {"a": 2, "b": 0.5}, [2], 6.0]),
    ("own_subclass_super", "import zwc\nclass B:\n    def __init__(self, k):\n        self.k = k\nclass C(B):\n"
     "    def __init__(self):\n        super().__init__(3)\ndef solve(x):\n"
     "    return C().k + int(zwc.{cumsum}(x).{tolist}()[-1]) + len(type(C()).__name__)\n", 10),
]


@pytest.mark.parametrize("name,code,want", HONEST, ids=[h[0] for h in HONEST])
def test_honest_code_runs_under_the_guard(pool, names, name, code, want):
    r = pool.run(RunRequest(_fill(code, names), "solve", [{"x": [1.0, 2.0, 3.0]}]))
    assert r.status == "ok" and r.outcomes[0].ok, (r.detail, r.outcomes)
    from selfevolve_lab.sandbox.protocol import from_tagged

    assert from_tagged(r.outcomes[0].value) == want


def test_rewrite_guards_every_attribute_read_and_private_write():
    import dis

    code = rewrite("class C:\n    def f(self):\n        self.__x = self.y\n        return self.__x\n")
    names = {i.argval for c in code.co_consts if hasattr(c, "co_consts") for f in c.co_consts
             if hasattr(f, "co_code") for i in dis.get_instructions(f)}
    assert "_C__x" in names and "_SE_ga" in names and "y" in names
    assert not any(i.opname == "LOAD_ATTR" for c in code.co_consts if hasattr(c, "co_consts")
                   for f in c.co_consts if hasattr(f, "co_code") for i in dis.get_instructions(f))


@pytest.mark.parametrize("code", [
    "class _SE_ga:\n    pass\n", "def _SE_ga():\n    pass\n", "def f(_SE_ga):\n    pass\n",
    "f = lambda _SE_own: 0\n", "def f(*_SE_x, **_SE_y):\n    pass\n", "import os as _SE_ga\n",
    "from os import _SE_ga\n", "import _SE_mod.x\n", "def f():\n    global _SE_ga\n",
    "try:\n    pass\nexcept E as _SE_ga:\n    pass\n", "f(_SE_ga=1)\n", "x._SE_ga\n",
    "match 1:\n    case _SE_ga:\n        pass\n", "__builtins__ = {}\n", "def f():\n    return __builtins__\n",
    "class C:\n    __builtins__ = 1\n", "match 1:\n    case [*_SE_ga]:\n        pass\n",
    "match {}:\n    case {**_SE_ga}:\n        pass\n", "match 1:\n    case 1 as _SE_ga:\n        pass\n",
])
def test_no_identifier_of_any_kind_may_take_a_hooks_name(code):
    """Not only names: whatever a class, function, argument, alias, capture, global or keyword binds."""
    with pytest.raises(SyntaxError, match="reserved by the sandbox|from-imports of private names"):
        rewrite(code)


@pytest.mark.parametrize("code", ["match v:\n    case m.X:\n        pass\n",
                                  "match v:\n    case {m.X: y}:\n        pass\n",
                                  "match v:\n    case [1, (a.b | 2)]:\n        pass\n"])
def test_dotted_names_in_patterns_are_refused_not_rewritten(code):
    from selfevolve_lab.sandbox.guard import rewrite_source

    with pytest.raises(SyntaxError, match="dotted names in patterns"):
        rewrite(code)
    assert rewrite_source(code) is None  # the child gets the original and refuses it itself


def test_the_text_the_child_compiles_is_the_tree_that_was_rewritten():
    """rewrite_source's text is compiled in the child as it is: it must parse back to the rewritten tree."""
    import ast

    from selfevolve_lab.sandbox import guard

    code = ("import zwc\nclass C:\n    def f(self, x):\n        self.__y = x.shape\n        return f'{x.a!r:>{self.w}}'\n"
            "def solve(x):\n    match x:\n        case [1, *rest] if rest:\n            return zwc.f(rest).g\n"
            "        case {'k': v, **kw}:\n            return -1j\n    return (lambda a, /, b=1, *c, d, **e: a)(x, d=2)\n")
    out = guard.rewrite_source(code)
    assert out is not None
    assert ast.dump(ast.parse(out)) == ast.dump(guard._rewritten(ast.parse(code)))


def test_allowlist_holds_no_module_that_loads_code_or_walks_the_interpreter():
    assert not STDLIB & {"os", "sys", "gc", "inspect", "importlib", "ctypes", "pickle", "marshal", "builtins",
                         "pydoc", "doctest", "timeit", "logging", "subprocess", "code", "runpy", "types"}


def test_no_admitted_module_hands_a_run_the_librarys_objects():
    """Every public attribute of an admitted standard module that holds one of the library's objects (at
    any depth of its containers) is refused: the tenth red team went from ``copy.dispatch_table`` to raw
    arrays, forged object references and the package's name table. Found here by a walk of our own."""
    import importlib

    import numpy  # noqa: F401  registers its reducers, as the worker's preload does

    from selfevolve_lab.sandbox.guard import ClosedBook, Guard

    def numpy_held(v, depth=0) -> bool:
        t = type(v)
        mod = getattr(v if isinstance(v, type) else t, "__module__", "") or ""
        if str(mod).startswith("numpy") or str(getattr(v, "__module__", "") or "").startswith("numpy"):
            return True
        items = (list(v.keys()) + list(v.values()) if isinstance(v, dict) else
                 list(v) if isinstance(v, (list, tuple, set, frozenset)) else [])
        return depth < 3 and any(numpy_held(x, depth + 1) for x in items[:10_000])

    guard, found = Guard(None, [], library="numpy"), []
    for m in sorted(STDLIB):
        mod = importlib.import_module(m)
        for name, value in list(vars(mod).items()):
            if name.startswith("_") or isinstance(value, type(mod)) or not numpy_held(value):
                continue
            found.append(f"{m}.{name}")
            with pytest.raises(ClosedBook):
                guard._admit(value, m, name, module=True)
    assert "copy.dispatch_table" in found, found  # the walk sees the registry the red team used
