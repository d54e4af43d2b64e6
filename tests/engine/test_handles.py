"""Handle semantics: fork/select/drop act in place; split and copy return new handles; merge joins
two live batches. Every operation must leave each row decoding exactly as it would have alone, and
the requests' counters (held tokens, peak) exact."""

from __future__ import annotations

import pytest

from leanthink.engine import SamplingParams
from leanthink.errors import LeanthinkError
from leanthink.tasks import get_task


GREEDY = SamplingParams(max_new_tokens=8)


@pytest.fixture(scope="module")
def prompts(engine):
    return [engine.prompt_style.render(p, "cot") for p in get_task("arith").load(split="hard", limit=4)]


def alone(engine, prompt, *caps):
    """Greedy continuations of one prompt decoded alone, one list per cap."""
    seqs = engine.prefill([prompt])
    return [engine.extend(seqs, SamplingParams(max_new_tokens=c))[0].token_ids for c in caps]


def test_fork_select_drop_are_in_place_and_return_the_handle(engine, prompts):
    seqs = engine.prefill(prompts[:2])
    assert engine.fork(seqs, 2) is seqs and len(seqs) == 4
    assert [seqs.request_key(i) for i in range(4)] == [0, 0, 1, 1]
    assert engine.select(seqs, [3, 0]) is seqs and [seqs.request_key(i) for i in range(2)] == [1, 0]
    assert engine.drop(seqs, [0]) is seqs and len(seqs) == 1 and seqs.request_key(0) == 0
    assert engine.extend(seqs, GREEDY)[0].token_ids == alone(engine, prompts[0], 8)[0]
    with pytest.raises(LeanthinkError, match=r"indices in \[0, 1\)"):
        engine.select(seqs, [1])
    with pytest.raises(LeanthinkError, match="fork"):
        engine.fork(seqs, 0)


def test_split_moves_rows_and_both_handles_go_on_as_before(engine, prompts):
    seqs = engine.prefill(prompts)
    engine.extend(seqs, SamplingParams(max_new_tokens=3), rows=[1, 2])   # rows at different points
    out = engine.split(seqs, [2, 0])
    assert len(out) == 2 and len(seqs) == 2
    assert [out.request_key(i) for i in range(2)] == [2, 0] and [seqs.request_key(i) for i in range(2)] == [1, 3]
    got_out = [c.token_ids for c in engine.extend(out, GREEDY)]
    got_seqs = [c.token_ids for c in engine.extend(seqs, GREEDY)]
    assert got_out == [alone(engine, prompts[2], 3, 8)[1], alone(engine, prompts[0], 8)[0]]
    assert got_seqs == [alone(engine, prompts[1], 3, 8)[1], alone(engine, prompts[3], 8)[0]]


def test_merge_joins_batches_of_different_widths(engine, prompts):
    a = engine.prefill(prompts[:1])
    engine.extend(a, SamplingParams(max_new_tokens=6))
    b = engine.prefill(prompts[1:3])
    engine.evict(b, 1, 2, 5)                       # a hole in b, too
    assert engine.merge(a, b) is a and len(a) == 3 and len(b) == 0
    got = [c.token_ids for c in engine.extend(a, GREEDY)]
    ref_b = engine.prefill(prompts[1:3])
    engine.evict(ref_b, 1, 2, 5)
    assert got[0] == alone(engine, prompts[0], 6, 8)[1]
    assert got[1:] == [c.token_ids for c in engine.extend(ref_b, GREEDY)]
    assert [u.prompt_tokens for u in engine.usage(a)] == [engine.count_tokens(p) for p in prompts[:3]]
    with pytest.raises(LeanthinkError, match="itself"):
        engine.merge(a, a)


def test_copy_leaves_the_parent_untouched(engine, prompts):
    seqs = engine.prefill(prompts[:2])
    engine.extend(seqs, SamplingParams(max_new_tokens=4))
    probe = engine.copy(seqs, [1])
    engine.append(probe, ["Answer:"])
    engine.extend(probe, SamplingParams(max_new_tokens=3))
    got = [c.token_ids for c in engine.extend(seqs, GREEDY)]
    assert got == [alone(engine, p, 4, 8)[1] for p in prompts[:2]]


def test_held_tokens_and_peak_follow_every_operation(engine, prompts):
    seqs = engine.prefill(prompts[:1])
    lp = engine.count_tokens(prompts[0])
    u = engine.usage(seqs)[0]
    assert u.peak_tokens == lp
    engine.fork(seqs, 3)
    assert u.peak_tokens == 3 * lp
    engine.drop(seqs, [0, 1])
    engine.extend(seqs, SamplingParams(max_new_tokens=5, ignore_eos=True))
    assert u.peak_tokens == 3 * lp       # one row now: lp + 4 fed tokens < 3 lp
    probe = engine.copy(seqs)
    assert u.peak_tokens == max(3 * lp, 2 * (lp + 4))
    engine.drop(probe, [0])
    engine.extend(seqs, SamplingParams(max_new_tokens=2 * lp, ignore_eos=True))
    assert u.peak_tokens == lp + 4 + 2 * lp    # alone again: no leftover from the dropped copy
    assert u.forward_tokens == lp + 4 + 2 * lp
    held = seqs.num_tokens(0)
    probe = engine.copy(seqs)
    assert u.peak_tokens == 2 * held
    del probe                                   # a handle that goes away frees its rows too
    engine.extend(seqs, SamplingParams(max_new_tokens=held + 1, ignore_eos=True))
    assert seqs.num_tokens(0) == 2 * held + 1 == u.peak_tokens


def test_requests_are_shared_across_split_and_merge(engine, prompts):
    seqs = engine.prefill(prompts[:2], keys=["p0", "p1"])
    other = engine.split(seqs, [1])
    engine.extend(other, SamplingParams(max_new_tokens=3, ignore_eos=True))
    engine.merge(seqs, other)
    engine.extend(seqs, SamplingParams(max_new_tokens=2, ignore_eos=True))
    usage = engine.usage(seqs)
    assert [u.generated_tokens for u in usage] == [2, 5]
    assert engine.usage(other)[0] is usage[1]


class Recorder:
    """A follower that records what it was told (what a scorer's state does for real)."""

    def __init__(self, log, name="root"):
        self.log, self.name = log, name

    def reindex(self, rows):
        self.log.append((self.name, "reindex", list(rows)))

    def take(self, rows, move):
        self.log.append((self.name, "take", list(rows), move))
        return Recorder(self.log, self.name + "'")

    def merge(self, other):
        self.log.append((self.name, "merge", other.name))


def test_followers_are_told_of_every_row_operation(engine, prompts):
    log = []
    seqs = engine.prefill(prompts[:2])
    seqs.followers.append(Recorder(log))
    engine.fork(seqs, 2)
    engine.select(seqs, [3, 3, 0])
    other = engine.split(seqs, [0])
    probe = engine.copy(seqs, [1])
    engine.merge(seqs, other)
    engine.drop(seqs, [0])
    assert log == [("root", "reindex", [0, 0, 1, 1]), ("root", "reindex", [3, 3, 0]), ("root", "take", [0], True),
                   ("root", "take", [1], False), ("root", "merge", "root'"), ("root", "reindex", [1, 2])]
    assert len(probe.followers) == 1


def test_extend_a_subset_with_per_row_settings(engine, prompts):
    seqs = engine.prefill(prompts[:3])
    first = engine.extend(seqs, SamplingParams(max_new_tokens=2), rows=[1])
    assert len(first) == 1 and len(first[0].token_ids) == 2
    stop = engine.decode(alone(engine, prompts[2], 3)[0])   # row 2 stops where its third token ends
    got = engine.extend(seqs, [SamplingParams(max_new_tokens=4), SamplingParams(max_new_tokens=9, stop=(stop,))],
                        rows=[0, 2])
    assert [c.finish_reason for c in got] == ["length", "stop"]
    assert got[0].token_ids == alone(engine, prompts[0], 4)[0] and got[1].token_ids == alone(engine, prompts[2], 3)[0]
    rest = engine.extend(seqs, GREEDY, rows=[1])[0].token_ids   # row 1 kept its pending token meanwhile
    assert first[0].token_ids + rest == alone(engine, prompts[1], 10)[0]
    with pytest.raises(LeanthinkError, match="one per row asked"):
        engine.extend(seqs, [GREEDY], rows=[0, 1])


def test_resampling_rewrites_rows_in_place_and_rows_decode_as_their_source(engine, prompts):
    """A same-size select (resampling) permutes rows inside the growing KV buffer; rows that are read
    and overwritten in one select (a swap) must still get their sources' caches."""
    seqs = engine.prefill(prompts[:3])
    engine.extend(seqs, SamplingParams(max_new_tokens=4))          # the layers now have spare capacity
    layer = seqs.cache.layers[0]
    buffer = layer._kbuf
    engine.select(seqs, [2, 0, 0])                                  # row 0 <- 2 and row 2 <- 0 at once
    assert layer.keys.data_ptr() == buffer.data_ptr()               # rewritten in place, capacity kept
    got = [c.token_ids for c in engine.extend(seqs, SamplingParams(max_new_tokens=6))]
    want = [alone(engine, prompts[i], 10)[0][4:] for i in (2, 0, 0)]
    assert got == want
