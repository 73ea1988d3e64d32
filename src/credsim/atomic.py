"""An atomic counter for compiled code: blocks of agents handed out to threads one at a time.

Numba has no atomic operations of its own; this is LLVM's ``atomicrmw add`` on one element of
an int64 array. Each thread of a kernel takes its next block with ``fetch_add``, so a thread on
a slower core simply takes fewer blocks (results never depend on which thread ran a block).
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def fetch_add(typingctx, counter, index, value):
    """``counter[index] += value`` atomically; returns the value before the addition."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None
    sig = types.int64(counter, index, value)

    def codegen(context, builder, signature, args):
        arr_t, idx_t, val_t = signature.args
        arr = context.make_array(arr_t)(context, builder, args[0])
        idx = context.cast(builder, args[1], idx_t, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, arr_t, arr, [idx])
        val = context.cast(builder, args[2], val_t, types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return sig, codegen
