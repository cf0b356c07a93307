"""Replica of numpy 1.26's ``argsort(kind="quicksort")`` of int64 keys on an AVX-512 CPU.

numpy 1.26 sorts 64-bit keys on AVX-512 CPUs with vectorised quicksort (x86-simd-sort): bitonic
networks on 8-lane registers for ≤ 64 elements, vector partitioning above. Its tie order is what
the official run's unstable ``sort_values`` produced when it sorted the pflip training rows (two
copies of each note) by noteId, and so which copy lands in the validation split (spec 06 §A.9).
numpy 2.x, and numpy 1.26 without AVX-512, break ties differently. This is a lane-by-lane replica
(checked against numpy 1.26.4 on 828 tie-heavy arrays up to 10,000 elements).

Used by :func:`cnlab.models.pflip.training_frame` (``PFlipConfig.tie_order="numpy1-avx512"``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["np1_avx512_argsort"]

_NET1 = (3, 2, 1, 0, 7, 6, 5, 4)
_NET2 = (7, 6, 5, 4, 3, 2, 1, 0)   # reverse
_NET3 = (2, 3, 0, 1, 6, 7, 4, 5)
_NET4 = (4, 5, 6, 7, 0, 1, 2, 3)
_SWAP = (1, 0, 3, 2, 5, 4, 7, 6)
_I64_MAX, _I64_MIN = int(np.iinfo(np.int64).max), int(np.iinfo(np.int64).min)


def _lanes(v: list, p: tuple) -> list:
    return [v[p[i]] for i in range(8)]


def _cmp_merge(k1: list, k2: list, i1: list, i2: list, mask: int) -> tuple[list, list]:
    """Lane l takes max(k1, k2) if bit l of ``mask`` is set, else the min; its index comes from
    lane l of the first register when the key did not change (ties keep their index)."""
    ko, io = [], []
    for lane in range(8):
        a, b = k1[lane], k2[lane]
        t = max(a, b) if (mask >> lane) & 1 else min(a, b)
        ko.append(t)
        io.append(i1[lane] if t == a else i2[lane])
    return ko, io


def _sort8(k: list, i: list) -> tuple[list, list]:
    for p, m in ((_SWAP, 0xAA), (_NET1, 0xCC), (_SWAP, 0xAA), (_NET2, 0xF0), (_NET3, 0xCC), (_SWAP, 0xAA)):
        k, i = _cmp_merge(k, _lanes(k, p), i, _lanes(i, p), m)
    return k, i


def _clean8(k: list, i: list) -> tuple[list, list]:
    for p, m in ((_NET4, 0xF0), (_NET3, 0xCC), (_SWAP, 0xAA)):
        k, i = _cmp_merge(k, _lanes(k, p), i, _lanes(i, p), m)
    return k, i


def _coex(k1: list, k2: list, i1: list, i2: list) -> tuple[list, list, list, list]:
    lo = [min(a, b) for a, b in zip(k1, k2)]
    hi = [max(a, b) for a, b in zip(k1, k2)]
    keep = [lo[j] == k1[j] for j in range(8)]
    return (lo, hi, [i1[j] if keep[j] else i2[j] for j in range(8)],
            [i2[j] if keep[j] else i1[j] for j in range(8)])


def _merge2(K: list, I: list, a: int, b: int) -> None:
    lo, hi, il, ih = _coex(K[a], _lanes(K[b], _NET2), I[a], _lanes(I[b], _NET2))
    K[a], I[a] = _clean8(lo, il)
    K[b], I[b] = _clean8(_lanes(hi, _NET2), _lanes(ih, _NET2))


def _merge4(K: list, I: list, o: int) -> None:
    t1, m1, it1, im1 = _coex(K[o], _lanes(K[o + 3], _NET2), I[o], _lanes(I[o + 3], _NET2))
    t2, m2, it2, im2 = _coex(K[o + 1], _lanes(K[o + 2], _NET2), I[o + 1], _lanes(I[o + 2], _NET2))
    k0, k1, i0, i1 = _coex(t1, t2, it1, it2)
    k2, k3, i2, i3 = _coex(_lanes(m2, _NET2), _lanes(m1, _NET2), _lanes(im2, _NET2), _lanes(im1, _NET2))
    for n, (k, i) in enumerate(((k0, i0), (k1, i1), (k2, i2), (k3, i3))):
        K[o + n], I[o + n] = _clean8(k, i)


def _merge8(K: list, I: list) -> None:
    t, m, it, im = [None] * 4, [None] * 4, [None] * 4, [None] * 4
    for a in range(4):
        t[a], m[a], it[a], im[a] = _coex(K[a], _lanes(K[7 - a], _NET2), I[a], _lanes(I[7 - a], _NET2))
    k = [t[0], t[1], t[2], t[3]] + [_lanes(m[3 - j], _NET2) for j in range(4)]
    i = [it[0], it[1], it[2], it[3]] + [_lanes(im[3 - j], _NET2) for j in range(4)]
    for a, b in ((0, 2), (1, 3), (4, 6), (5, 7), (0, 1), (2, 3), (4, 5), (6, 7)):
        k[a], k[b], i[a], i[b] = _coex(k[a], k[b], i[a], i[b])
    for n in range(8):
        K[n], I[n] = _clean8(k[n], i[n])


def _small_argsort(arr: list, arg: list, off: int, n: int) -> None:
    """≤ 64 elements: sort 1, 2, 4 or 8 registers (missing lanes = INT64_MAX) and merge them."""
    regs = 1 if n <= 8 else 2 if n <= 16 else 4 if n <= 32 else 8
    K, I = [], []
    for r in range(regs):
        cnt = max(0, min(8, n - 8 * r))
        idx = [arg[off + 8 * r + lane] if lane < cnt else 0 for lane in range(8)]
        k, i = _sort8([arr[idx[lane]] if lane < cnt else _I64_MAX for lane in range(8)], idx)
        K.append(k)
        I.append(i)
    if regs >= 2:
        for a in range(0, regs, 2):
            _merge2(K, I, a, a + 1)
    if regs >= 4:
        for o in range(0, regs, 4):
            _merge4(K, I, o)
    if regs == 8:
        _merge8(K, I)
    for r in range(regs):
        for lane in range(8):
            if 8 * r + lane < n:
                arg[off + 8 * r + lane] = I[r][lane]


def _partition(arr: list, arg: list, left: int, right: int, pivot: int, unroll: int) -> tuple[int, int, int]:
    """Vector partition of ``arg[left:right]``: keys < pivot to the left (register lanes in order),
    keys ≥ pivot to the right; registers are taken from the side with less room left."""
    lo_key, hi_key = _I64_MAX, _I64_MIN
    step = 8 * unroll
    for _ in range((right - left) % step):
        v = arr[arg[left]]
        lo_key, hi_key = min(lo_key, v), max(hi_key, v)
        if v >= pivot:
            right -= 1
            arg[left], arg[right] = arg[right], arg[left]
        else:
            left += 1
    if left == right:
        return left, lo_key, hi_key

    def load(pos: int) -> tuple[list, list]:
        av = arg[pos:pos + 8]
        return av, [arr[a] for a in av]

    def put(av: list, kv: list, l_store: int, r_end: int) -> int:
        ge = [k >= pivot for k in kv]
        n_ge = sum(ge)
        lo = [a for a, g in zip(av, ge) if not g]
        arg[l_store:l_store + len(lo)] = lo
        arg[r_end - n_ge:r_end] = [a for a, g in zip(av, ge) if g]
        return n_ge

    if unroll == 1 and right - left == 8:
        av, kv = load(left)
        n_ge = put(av, kv, left, left + 8)
        return left + 8 - n_ge, min(lo_key, min(kv)), max(hi_key, max(kv))
    first = [load(left + 8 * j) for j in range(unroll)]
    last = [load(right - 8 * (unroll - j)) for j in range(unroll)]
    r_store, l_store = right - 8, left
    left += step
    right -= step
    while right != left:
        if (r_store + 8) - right < left - l_store:
            right -= step
            cur = [load(right + 8 * j) for j in range(unroll)]
        else:
            cur = [load(left + 8 * j) for j in range(unroll)]
            left += step
        for av, kv in cur:
            n_ge = put(av, kv, l_store, r_store + 8)
            lo_key, hi_key = min(lo_key, min(kv)), max(hi_key, max(kv))
            l_store += 8 - n_ge
            r_store -= n_ge
    for av, kv in first + last:
        n_ge = put(av, kv, l_store, r_store + 8)
        lo_key, hi_key = min(lo_key, min(kv)), max(hi_key, max(kv))
        l_store += 8 - n_ge
        r_store -= n_ge
    return l_store, lo_key, hi_key


def _qsort(arr: list, arg: list, left: int, right: int, depth: int) -> None:
    if depth <= 0:  # numpy falls back to std::sort (not replicated): stable order of the range
        arg[left:right + 1] = sorted(arg[left:right + 1], key=lambda a: arr[a])
        return
    if right + 1 - left <= 64:
        _small_argsort(arr, arg, left, right + 1 - left)
        return
    if right - left >= 8:  # pivot: 5th smallest of 8 evenly spaced samples
        size = (right - left) // 8
        pivot = sorted(arr[arg[left + j * size]] for j in range(1, 9))[4]
    else:
        pivot = arr[arg[right]]
    unroll = 1 if right + 1 - left <= 256 else 4
    p, lo_key, hi_key = _partition(arr, arg, left, right + 1, pivot, unroll)
    if pivot != lo_key:
        _qsort(arr, arg, left, p - 1, depth - 1)
    if pivot != hi_key:
        _qsort(arr, arg, p, right, depth - 1)


def np1_avx512_argsort(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="quicksort")`` for int64 keys as numpy 1.26 computes it on an AVX-512
    CPU (the tie order of pandas' default ``sort_values`` in the official environment)."""
    arr = np.asarray(keys, dtype=np.int64).tolist()
    arg = list(range(len(arr)))
    if len(arr) > 1:
        _qsort(arr, arg, 0, len(arr) - 1, 2 * int(np.log2(len(arr))))
    return np.array(arg, dtype=np.int64)
