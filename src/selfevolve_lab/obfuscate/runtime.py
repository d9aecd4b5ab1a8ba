"""Runtime of a pseudo-novel package. Copied verbatim into every built package as ``_core.py``.

It imports the wrapped library and exposes it under novel names only. Everything library-specific
(the library's import name, what each novel name stands for, rewritten docs) comes from the encoded
table in ``_data.py``, so no file of the package names the library or its identifiers.

Values are proxied by composition, not subclassing, so ``dir()``, ``help()`` and reprs show novel names
only. Proxy classes mirror the library's class hierarchy (``isinstance`` works); every public method
and property is installed under its novel name; Python's operator protocols are forwarded. Arguments
are unwrapped and results wrapped recursively through tuples, lists and dicts. Exceptions are re-raised
as novel types (subclasses of the same builtin exceptions) with rewritten messages.

Threat model: this hides the library from static reading and from the outputs of normal use. A
program that walks ``gc`` or ``sys.modules`` can still find it.
"""

import array
import base64
import builtins
import collections
import copy as _copymod
import importlib
import inspect
import json
import operator
import os
import re
import sys
import types
import zlib

from ._data import BLOB, DOCS

T = json.loads(zlib.decompress(base64.b85decode(BLOB)))
_docs = None
LIB = importlib.import_module(T["lib"])
PKG = T["pkg"]
_WORDS = T["words"]  # distinctive original token -> novel token, rewritten anywhere in reprs and messages
_AMBIGUOUS = T["ambiguous"]  # English-word tokens: rewritten only in code position
_REV_TYPES = T["type_strings"]  # novel scalar-type name -> original name, accepted where the library takes one
_NO_TRANSLATE = (StopIteration, StopAsyncIteration, GeneratorExit, KeyboardInterrupt, SystemExit)


def docs():
    global _docs
    if _docs is None:
        _docs = json.loads(zlib.decompress(base64.b85decode(DOCS)))
    return _docs


def _resolve(path):
    obj = LIB
    for part in path.split(".") if path else ():
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------ text rewriting

_TOKEN = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*")


def rename_text(text, keep=()):
    """Rewrite original identifiers in a repr or message: whole tokens only; English words only where
    they are code (followed by "(" or ".", preceded by ".", or quoted). Where the text the caller handed
    over (``keep``, `_caller_text`) appears, its tokens stay as they are: the package translates what the
    library says, never what it is told (a keyword argument named after an original function came back
    as that function's novel name in the error, an oracle a red team used to translate every name)."""
    if not isinstance(text, str) or not text:
        return text
    kept = []  # where the caller's own text appears in this text: the tokens there are its, not the library's
    for k in keep:
        i = text.find(k) if k else -1
        while i >= 0 and len(kept) < 10000:
            kept.append((i, i + len(k)))
            i = text.find(k, i + 1)

    def sub(m):
        w = m.group(0)
        if kept and any(a <= m.start() and m.end() <= b for a, b in kept):
            return w
        n = _WORDS.get(w)
        if n is not None:
            return n
        n = _AMBIGUOUS.get(w)
        if n is None:
            return w
        s, e = m.start(), m.end()
        before = text[s - 1] if s else ""
        after = text[e] if e < len(text) else ""
        if after in "(." and after or before == "." or (before in "'\"`" and before and after == before):
            return n
        return w

    return _TOKEN.sub(sub, text)


def _caller_text(*objs):
    """The strings among what a caller handed over: keyword names, string arguments, and the strings in
    lists, tuples, sets, dicts, text arrays and field names among them (bounded)."""
    out, stack, budget = [], list(objs), 20000
    while stack and budget > 0:
        budget -= 1
        o = stack.pop()
        t = type(o)
        if issubclass(t, str):
            out.append(str.__getitem__(o, slice(None)))
        elif issubclass(t, bytes):
            out.append(bytes.decode(o, "latin-1"))
        elif t in (list, tuple, set, frozenset):
            stack.extend(list(o)[:1000])
        elif t is dict:
            stack.extend(list(o)[:1000])
            stack.extend(list(o.values())[:1000])
        else:
            try:
                v = _get_v(o) if isinstance(o, _Proxy) else o
                dt = getattr(v, "dtype", None)
                if getattr(dt, "names", None):
                    stack.extend(dt.names)
                if getattr(dt, "kind", None) in ("U", "S", "O") and hasattr(v, "ravel"):
                    stack.extend(list(v.ravel()[:1000]))
            except Exception:
                pass
    return tuple(out)


_ADDRESS = re.compile(r"<[^<>]*? (?:object )?at 0x[0-9a-fA-F]+>")


class _Repr:
    """A signature default shown by its rewritten repr."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


# ------------------------------------------------------------------ wrapping

class _Proxy:
    """Base of every proxy: holds the library object in ``_v``."""

    __slots__ = ("_v",)


_get_v = _Proxy._v.__get__
_set_v = _Proxy._v.__set__
_PROXY_OF = {}  # library class -> proxy class
_ORIG_OF = {}  # proxy class -> library class
_FUNC_ORIG = {}  # id(wrapper) -> library callable
_EXC_OF = {}  # library or builtin exception class -> novel exception class
_NAMEDTUPLES = {}
_SCALARS = (int, float, complex, str, bytes, bool, type(None))


def _proxy_class_for(cls):
    p = _PROXY_OF.get(cls)
    if p is None:
        for base in cls.__mro__[1:]:
            p = _PROXY_OF.get(base)
            if p is not None:
                _PROXY_OF[cls] = p
                break
    return p


def is_proxy(obj):
    return isinstance(obj, _Proxy)


def unwrap(obj):
    """Proxy -> the library object it holds (used by the sandbox to encode results)."""
    return _get_v(obj) if isinstance(obj, _Proxy) else obj


def _w(v):
    t = type(v)
    if t in _SCALARS:
        return v
    if isinstance(v, type):
        return _PROXY_OF.get(v) or _EXC_OF.get(v) or _proxy_class_for(v) or v
    if t is tuple:
        return tuple(_w(x) for x in v)
    if t is list:
        return [_w(x) for x in v]
    if t is dict:
        return {k: _w(x) for k, x in v.items()}
    p = _proxy_class_for(t)
    if p is not None:
        o = object.__new__(p)
        _set_v(o, v)
        return o
    if isinstance(v, tuple) and hasattr(t, "_fields"):  # a named result tuple
        nt = _NAMEDTUPLES.get(t)
        if nt is None:
            name = _WORDS.get(t.__name__, "Result")
            nt = _NAMEDTUPLES[t] = collections.namedtuple(name, t._fields, module=PKG)
        return nt(*(_w(x) for x in v))
    if isinstance(v, types.GeneratorType) or t.__name__ in ("map", "zip"):
        return (_w(x) for x in v)
    return v


def _u(a):
    """A caller's value as the library receives it: proxies unwrapped, package functions replaced by the
    library's, callables bridged, containers and iterators rebuilt item by item. Only values of an allowed
    kind pass: the library reads protocols such as ``__array_interface__`` (raw memory at an address the
    object names) from any object it meets, at any depth, also through a sequence it indexes, so no object
    of a class the caller made reaches it, whatever that class defines."""
    t = type(a)
    if t in _SCALARS:
        if t is str and a in _REV_TYPES:
            return _REV_TYPES[a]
        return a
    if isinstance(a, _Proxy):
        return _get_v(a)
    if t is tuple or t is list:
        return t(_u(x) for x in a)
    if t is dict:
        return {k: _u(x) for k, x in a.items()}
    if isinstance(a, type):
        if a in _ORIG_OF:
            return _ORIG_OF[a]
        if _known_type(a) or _library_type(a):
            return a
        raise TypeError(f"{PKG} takes no class the caller made ({a.__name__})")
    orig = _FUNC_ORIG.get(id(a))
    if orig is not None:
        return orig
    if t is slice:
        return slice(_u(a.start), _u(a.stop), _u(a.step))
    if t in _PLAIN or _library_type(t):
        return a
    if isinstance(a, (tuple, list, _VIEWS)):  # a named tuple, a list subclass, dict.keys()
        return (tuple if isinstance(a, tuple) else list)(_u(x) for x in a)
    if isinstance(a, dict):
        return {k: _u(x) for k, x in a.items()}
    if isinstance(a, (set, frozenset)):
        return (frozenset if isinstance(a, frozenset) else set)(_u(x) for x in a)
    if callable(a):
        return _bridge(a)
    if getattr(t, "__next__", None) is not None:  # an iterator, the caller's too: each item as it comes
        return (_u(x) for x in a)
    if _known_type(t):  # a deque item by item; a Fraction, a Decimal as they are
        return [_u(x) for x in a] if getattr(t, "__iter__", None) is not None else a
    raise TypeError(f"{PKG} takes numbers, strings, sequences, its own objects and functions, not an object "
                    f"of class {t.__name__}")


_PLAIN = frozenset({type(Ellipsis), type(NotImplemented), range, bytearray, memoryview, array.array})
_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))
_STDLIB = os.path.dirname(os.__file__) + os.sep


def _held(t):
    """``t``'s module when that module holds ``t`` under its name, else None (a class the caller makes can
    name any module, ``__module__ = "<library>"`` included, but that module does not hold it)."""
    name = type.__dict__["__module__"].__get__(t)
    mod = sys.modules.get(name) if type(name) is str else None
    return mod if mod is not None and getattr(mod, type.__dict__["__name__"].__get__(t), None) is t else None


def _known_type(t):
    """A class of Python or its standard library, by identity (`_held`)."""
    mod = _held(t)
    where = getattr(mod, "__file__", None)
    return mod is builtins or (type(where) is str and where.startswith(_STDLIB) and "-packages" not in where)


def _library_type(t):
    """The library's own class, by identity (`_held`)."""
    mod = _held(t)
    return mod is not None and str(mod.__name__).split(".")[0] == T["lib"]


def _bridge(fn):
    """A user callable handed to the library: it receives wrapped values and returns plain ones."""

    def call(*args, **kw):
        return _u(fn(*[_w(x) for x in args], **{k: _w(x) for k, x in kw.items()}))

    return call


def _translate(e, keep=()):
    cls = type(e)
    novel = _EXC_OF.get(cls)
    if novel is None:
        for base in cls.__mro__:
            novel = _EXC_OF.get(base)
            if novel is not None:
                break
    if novel is None or novel is cls:
        novel = cls
    try:
        msg = rename_text(str(e), keep)
    except Exception:
        msg = ""
    new = novel(msg) if novel is not cls or msg != str(e) else e
    return new


def _call(fn, args, kw, owner=None):
    try:
        r = fn(*[_u(a) for a in args], **{k: _u(v) for k, v in kw.items()})
    except _NO_TRANSLATE:
        raise
    except BaseException as e:
        raise _translate(e, _caller_text(args, kw, owner)) from None
    if type(r) is str:
        return rename_text(r, _caller_text(args, kw, owner))
    return _w(r)


def _signature(orig):
    try:
        sig = inspect.signature(orig)
    except (TypeError, ValueError):
        return None
    params = []
    for p in sig.parameters.values():
        d = p.default
        if d is not inspect.Parameter.empty and type(d) not in _SCALARS:
            d = _Repr(_ADDRESS.sub("<default>", rename_text(repr(d))))
        params.append(p.replace(default=d, annotation=inspect.Parameter.empty))
    return sig.replace(parameters=params, return_annotation=inspect.Signature.empty)


def _function(orig, name, module, qualname=None):
    def wrapper(*args, **kw):
        return _call(orig, args, kw)

    wrapper.__name__ = name
    wrapper.__qualname__ = qualname or name
    wrapper.__module__ = module
    wrapper.__doc__ = docs().get(f"{module}.{qualname or name}", "")
    sig = _signature(orig)
    if sig is not None:
        wrapper.__signature__ = sig
    _FUNC_ORIG[id(wrapper)] = orig
    return wrapper


# ------------------------------------------------------------------ proxy classes

_BINARY = ["__add__", "__sub__", "__mul__", "__matmul__", "__truediv__", "__floordiv__", "__mod__", "__divmod__",
           "__pow__", "__lshift__", "__rshift__", "__and__", "__xor__", "__or__"]
_OTHER = ["__neg__", "__pos__", "__abs__", "__invert__", "__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__",
          "__len__", "__getitem__", "__setitem__", "__delitem__", "__contains__", "__call__", "__enter__",
          "__exit__", "__round__", "__trunc__", "__floor__", "__ceil__", "__reversed__", "__next__"]
_CONVERT = {"__float__": float, "__int__": int, "__complex__": complex, "__index__": operator.index,
            "__bool__": bool}


def _forward(name):
    def method(self, *args):
        return _call(getattr(_get_v(self), name), args, {}, self)

    method.__name__ = name
    return method


def _inplace(name):
    def method(self, other):
        v = _get_v(self)
        r = _call(getattr(v, name), (other,), {}, self)
        return self if isinstance(r, _Proxy) and _get_v(r) is v else r

    method.__name__ = name
    return method


def _convert(name, fn):
    def method(self):
        try:
            return fn(_get_v(self))
        except BaseException as e:
            raise _translate(e) from None

    method.__name__ = name
    return method


def _iter(self):
    try:
        it = iter(_get_v(self))
    except BaseException as e:
        raise _translate(e) from None
    return (_w(x) for x in it)


def _repr(self):
    return rename_text(_library_repr(_get_v(self)), _caller_text(self))


def _str(self):
    return rename_text(_library_str(_get_v(self)), _caller_text(self))


def _library_repr(v):
    with _printing():
        return repr(v)


def _library_str(v):
    with _printing():
        return str(v)


def _printing():
    opts = T.get("print_options")
    if opts:
        return getattr(LIB, opts[0])(**opts[1])
    import contextlib

    return contextlib.nullcontext()


def _format(self, spec):
    if not spec:
        return _str(self)
    try:
        return rename_text(format(_get_v(self), spec), _caller_text(self, spec))
    except BaseException as e:
        raise _translate(e, _caller_text(self, spec)) from None


def _hash(self):
    return hash(_get_v(self))


def _dunders(orig_cls):
    ns = {}
    for d in _BINARY:
        for name in (d, "__r" + d[2:]):
            if hasattr(orig_cls, name):
                ns[name] = _forward(name)
        if hasattr(orig_cls, "__i" + d[2:]):
            ns["__i" + d[2:]] = _inplace("__i" + d[2:])
    for d in _OTHER:
        if getattr(orig_cls, d, None) is not None:
            ns[d] = _forward(d)
    for d, fn in _CONVERT.items():
        if getattr(orig_cls, d, None) is not None:
            ns[d] = _convert(d, fn)
    if getattr(orig_cls, "__iter__", None) is not None:
        ns["__iter__"] = _iter
    ns["__hash__"] = _hash if getattr(orig_cls, "__hash__", None) is not None else None
    ns["__repr__"] = _repr
    ns["__str__"] = _str
    ns["__format__"] = _format
    ns["__copy__"] = lambda self: _w(_copymod.copy(_get_v(self)))
    # a memo of its own: the caller's would keep the library's objects (the copy and the original)
    ns["__deepcopy__"] = lambda self, memo: _w(_copymod.deepcopy(_get_v(self), {}))
    ns["__reduce__"] = lambda self: (_w, (_get_v(self),))
    return ns


def _attr_method(orig_attr, novel, owner):
    def method(self, *args, **kw):
        return _call(getattr(_get_v(self), orig_attr), args, kw, self)

    method.__name__ = novel
    method.__qualname__ = f"{owner}.{novel}"
    return method


def _attr_property(orig_attr, doc):
    def get(self):
        try:
            r = getattr(_get_v(self), orig_attr)
        except BaseException as e:
            raise _translate(e) from None
        return rename_text(r, _caller_text(self)) if type(r) is str else _w(r)

    def set_(self, value):
        try:
            setattr(_get_v(self), orig_attr, _u(value))
        except BaseException as e:
            raise _translate(e) from None

    return property(get, set_, doc=doc)


def _class_callable(orig_cls, orig_attr):
    def method(cls, *args, **kw):
        return _call(getattr(orig_cls, orig_attr), args, kw)

    return classmethod(method)


def _make_class(spec, module):
    orig_cls = _resolve(spec["orig"])
    novel = spec["novel"]
    qual = f"{module}.{novel}"
    doc_of = docs()
    if spec.get("exception"):
        bases = tuple(_EXC_OF.get(b, b) for b in orig_cls.__mro__[1:]
                      if b.__module__ == "builtins" and issubclass(b, BaseException) and b is not BaseException)
        bases = tuple(b for b in bases if not any(b is not o and issubclass(o, b) for o in bases))
        cls = type(novel, bases or (Exception,), {"__module__": module, "__doc__": doc_of.get(qual, "")})
        _EXC_OF[orig_cls] = cls
        return cls
    bases = tuple(_PROXY_OF[b] for b in orig_cls.__bases__ if b in _PROXY_OF) or (_Proxy,)
    ns = _dunders(orig_cls)
    ns.update({"__slots__": (), "__module__": module, "__qualname__": novel, "__doc__": doc_of.get(qual, "")})

    def new(cls, *args, **kw):
        return _call(orig_cls, args, kw)

    ns["__new__"] = new
    for novel_attr, orig_attr, how in spec["attrs"]:
        adoc = doc_of.get(f"{qual}.{novel_attr}", "")
        if how == "method":
            m = _attr_method(orig_attr, novel_attr, novel)
            m.__doc__ = adoc
            ns[novel_attr] = m
        elif how == "property":
            ns[novel_attr] = _attr_property(orig_attr, adoc)
        elif how == "classmethod":
            ns[novel_attr] = _class_callable(orig_cls, orig_attr)
        else:
            ns[novel_attr] = _w(getattr(orig_cls, orig_attr))
    cls = type(novel, bases, ns)
    _PROXY_OF[orig_cls] = cls
    _ORIG_OF[cls] = orig_cls
    return cls


def _builtin_exceptions():
    for orig_name, novel in T["builtin_exceptions"].items():
        base = getattr(builtins, orig_name)
        _EXC_OF[base] = type(novel, (base,), {"__module__": PKG, "__doc__": ""})


def install(namespace, module):
    """Populate a novel module's namespace from the table."""
    spec = T["modules"][module]
    for cls_spec in spec["classes"]:
        cls = _make_class(cls_spec, module)
        namespace[cls_spec["novel"]] = cls
    for novel, kind, orig in spec["members"]:
        obj = _resolve(orig)
        if kind == "function":
            f = namespace[novel] = _function(obj, novel, module)
            if not isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)) and _proxy_class_for(type(obj)):
                p = _w(obj)  # a callable object (e.g. a universal function): keep its methods and attributes
                for a in dir(type(p)):
                    if not a.startswith("_"):
                        try:
                            setattr(f, a, getattr(p, a))
                        except Exception:
                            pass
        else:
            namespace[novel] = _w(obj)
    namespace["__doc__"] = docs().get(module, "")
    namespace["__all__"] = sorted(n for n in namespace if not n.startswith("_"))


def install_package(namespace):
    _builtin_exceptions()
    install(namespace, PKG)
    for sub in T["modules"]:
        if sub != PKG:
            namespace[sub.rsplit(".", 1)[1]] = importlib.import_module(sub)
    namespace["__all__"] = sorted(n for n in namespace if not n.startswith("_"))
