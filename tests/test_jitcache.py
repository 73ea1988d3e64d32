"""Numba's cache of credsim's kernels is keyed by the whole package, not one source file."""

from credsim import jitcache, kernel, rng


def test_kernels_cache_stamp_is_the_package_hash():
    for fn in (kernel.run_epoch, kernel.kernel_for(0), rng.uniforms):
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
    for m in ("kernel", "rng", "rules", "engine", "population", "peer", "compile"):
        assert m in mods
    assert "report" not in mods and "cli" not in mods  # editing the report keeps the kernels
