"""Numba's cache of credsim's kernels is keyed by the whole package, not one source file."""

import shutil

from credsim import jitcache, kernel, peer, rng, rules, synthesis, tally


def test_kernels_cache_stamp_is_the_package_hash():
    for fn in (kernel.run_epoch.blocks, kernel.kernel_for(0).blocks, rng.uniforms):
        locator = fn._cache._impl.locator
        assert type(locator).__name__.startswith("Package")
        # a change to any module (rng.py, rules.py...) changes the stamp of every kernel
        assert locator.get_source_stamp() == jitcache.package_stamp()


def test_other_packages_keep_numbas_locators():
    import numba

    @numba.njit(cache=True)
    def f(x):  # defined in tests/, outside the package
        return x + 1

    assert not type(f._cache._impl.locator).__name__.startswith("Package")


def test_the_stamp_covers_what_kernels_inline():
    mods = jitcache.compiled_modules()
    for m in ("kernel", "rng", "rules", "layout", "peer", "synthesis", "tally"):
        assert m in mods
    # modules that only describe, validate, plan or report: editing them compiles nothing
    for m in ("errors", "config", "regime", "behaviour", "compile", "engine", "population",
              "report", "cli", "results", "sim"):
        assert m not in mods, m


def _edited(tmp_path, module, old, new):
    """The stamp of a copy of the package with one text replaced in ``module``."""
    root = tmp_path / "credsim"
    shutil.copytree(jitcache.PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "data"))
    path = root / f"{module}.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return jitcache.stamp(root)


def test_editing_a_message_or_a_docstring_compiles_nothing(tmp_path):
    base = jitcache.stamp(jitcache.PACKAGE_DIR)
    assert _edited(tmp_path / "a", "errors", "(top level)", "(the top level)") == base
    assert _edited(tmp_path / "b", "regime", '"""', '""" (edited)', ) == base
    assert _edited(tmp_path / "c", "engine", '"""', '""" (edited)') == base


def test_editing_compiled_code_or_what_it_inlines_compiles_afresh(tmp_path):
    base = jitcache.stamp(jitcache.PACKAGE_DIR)
    for k, module in enumerate(("rules", "rng", "layout", "kernel")):
        assert _edited(tmp_path / str(k), module, "\n", "\n# edited\n") != base, module


def test_helpers_are_inlined_by_llvm_not_by_numba():
    """A cold start: Numba's ``inline="always"`` translates a helper again at every call site, and
    all it inlines with it (a cold compile four times longer). Helpers are compiled once per
    signature, without reference counting (a call would count every array it reads out of a
    record), and LLVM inlines them (``forceinline``)."""
    from numba.core.registry import CPUDispatcher

    helpers = 0
    for m in (kernel, rules, rng, peer, synthesis, tally):
        for name, f in vars(m).items():
            if not isinstance(f, CPUDispatcher) or f.py_func.__module__ != m.__name__:
                continue
            opts = f.targetoptions
            assert opts.get("inline", "never") == "never", name
            if opts.get("forceinline"):
                assert opts.get("_nrt") is False, name
                helpers += 1
    assert kernel._visit_agent.targetoptions["forceinline"]
    assert helpers > 40
