"""The short queue both process executors use: every item's result, none lost or repeated, and
never more than ``width`` submitted at once."""

from concurrent.futures import ThreadPoolExecutor

from credsim.executors import bounded_map


class CountingPool(ThreadPoolExecutor):
    def __init__(self):
        super().__init__(max_workers=2)
        self.submitted = 0
        self.done = 0
        self.most = 0

    def submit(self, fn, *args):
        self.submitted += 1
        self.most = max(self.most, self.submitted - self.done)

        def run():
            try:
                return fn(*args)
            finally:
                self.done += 1
        return super().submit(run)


def test_every_item_once_and_at_most_width_in_flight():
    for n in (0, 1, 3, 4, 5, 17):
        with CountingPool() as pool:
            out = sorted(bounded_map(pool, lambda x: (lambda v: v * 10, x), range(n), 4))
        assert out == [10 * x for x in range(n)]  # a zip that read one item too many lost it
        assert pool.submitted == n and pool.most <= 4
