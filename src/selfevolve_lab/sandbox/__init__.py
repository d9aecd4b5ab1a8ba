"""Untrusted execution: warm jailed workers that run model code and return plain data.

Threat model: every program is hostile (fork/thread/memory bombs, infinite loops in Python or C,
network access, file writes and reads, killing its parent, forging its results). Layers:

* the jail (`isolation`): bubblewrap namespaces with no network, no /etc, no home, no task files, a
  read-only view of the interpreter and the package, a size-capped private /tmp;
* the run (`worker`): a PID namespace per run (all its processes die with it), uid 65534 with no
  capabilities, rlimits on CPU, memory, file size, open files and processes, a wall-clock deadline,
  capped stdout/stderr/result sizes;
* the boundary (`protocol`): results leave as tagged JSON, read through builtin base-class methods; the
  trusted side parses and validates text and compares with its own code. Expected outputs never enter
  the sandbox, so a program that forges its result channel can only claim what it could have returned.
"""

from selfevolve_lab.sandbox.pool import Limits, RunRequest, RunResult, SandboxPool, TestOutcome, with_limits

__all__ = ["Limits", "RunRequest", "RunResult", "SandboxPool", "TestOutcome", "with_limits"]
