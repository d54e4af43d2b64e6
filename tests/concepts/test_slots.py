import pytest
import torch

from leanthink.concepts.slots import (ImplicitSlotAttention, QuerySlotAttention, SlotAttention,
                                      make_slot_attention)

B, N, C, D = 3, 7, 4, 8


@pytest.mark.parametrize("variant", ["sa", "isa", "boqsa"])
def test_shapes_and_attention_normalised_over_slots(variant):
    sa = make_slot_attention(variant, C, D, iters=3)
    slots, attn = sa(torch.randn(B, N, D))
    assert slots.shape == (B, C, D) and attn.shape == (B, N, C)
    torch.testing.assert_close(attn.sum(-1), torch.ones(B, N))


def test_sa_start_is_random_in_training_and_the_mean_in_eval():
    sa = SlotAttention(C, D, iters=2)
    x = torch.randn(B, N, D)
    sa.train()
    assert not torch.allclose(sa(x)[0], sa(x)[0])
    sa.eval()
    torch.testing.assert_close(sa(x)[0], sa(x)[0])
    # every iteration is differentiated: the start parameters get gradient
    sa.train()
    sa(x)[0].sum().backward()
    assert sa.mu.grad is not None and sa.mu.grad.abs().sum() > 0


def _manual_last_step(module, tokens, iters):
    """Iterations without gradient, then one differentiated step from a leaf at the fixed point."""
    x = module.norm_inputs(tokens)
    k, v = module.to_k(x), module.to_v(x)
    s = module.init_slots.expand(len(tokens), -1, -1)
    with torch.no_grad():
        for _ in range(iters - 1):
            s, _ = module.step(s, k, v)
    leaf = s.clone().requires_grad_(True)
    out, _ = module.step(leaf, k, v)
    return out, leaf


def test_isa_gradient_flows_only_through_the_last_step():
    torch.manual_seed(1)
    isa = ImplicitSlotAttention(C, D, iters=3)
    tokens = torch.randn(B, N, D, requires_grad=True)
    out, _ = isa(tokens)
    out.pow(2).sum().backward()
    assert isa.init_slots.grad is None  # the detached iterations cut the start off the graph
    g_isa, g_q = tokens.grad.clone(), isa.to_q.weight.grad.clone()

    isa.zero_grad()
    tokens.grad = None
    ref, _ = _manual_last_step(isa, tokens, iters=3)
    torch.testing.assert_close(out, ref)
    ref.pow(2).sum().backward()
    torch.testing.assert_close(tokens.grad, g_isa)
    torch.testing.assert_close(isa.to_q.weight.grad, g_q)

    # full backpropagation through all iterations gives a different gradient: the test can fail
    isa.zero_grad()
    tokens.grad = None
    x = isa.norm_inputs(tokens)
    full, _ = SlotAttention.iterate(isa, isa.start(B), isa.to_k(x), isa.to_v(x))
    torch.testing.assert_close(full, out)  # same value...
    full.pow(2).sum().backward()
    assert not torch.allclose(tokens.grad, g_isa)  # ...different gradient


def test_isa_with_one_iteration_trains_its_start():
    isa = ImplicitSlotAttention(C, D, iters=1)
    isa(torch.randn(B, N, D))[0].sum().backward()
    assert isa.init_slots.grad is not None


def test_boqsa_straight_through_gives_the_queries_the_last_step_gradient():
    torch.manual_seed(2)
    qsa = QuerySlotAttention(C, D, iters=3)
    tokens = torch.randn(B, N, D)
    out, _ = qsa(tokens)
    out.pow(2).sum().backward()
    g_init = qsa.init_slots.grad.clone()

    qsa.zero_grad()
    ref, leaf = _manual_last_step(qsa, tokens, iters=3)
    torch.testing.assert_close(out, ref)  # value: the fixed point's last step
    ref.pow(2).sum().backward()
    # gradient: d loss / d (last step's input), summed over the batch the queries are shared by
    torch.testing.assert_close(g_init, leaf.grad.sum(0, keepdim=True))
    assert g_init.abs().sum() > 0
