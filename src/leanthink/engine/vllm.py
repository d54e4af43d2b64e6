"""`vllm:PATH`: vLLM's offline `LLM` in process, with prefix caching, for GPU users (`[vllm]` extra).

It is a text engine (see remote.py): each `extend` hands every asked row's whole text to one batched
`LLM.generate` call, and vLLM's automatic prefix caching keeps the shared prefixes (the prompt, a
particle's steps so far) in its KV cache, so a re-sent prefix is not recomputed. Unlike a remote
server it has the tokenizer, so stop tokens, token ids, the chat template and top-k logprobs are real.
Verbs on the cache itself (evict, latent steps, score) are not offered: vLLM owns its cache.

Not run in this project's CI (no GPU there, and vLLM pulls a CUDA build of torch): the adapter is
tested against a stand-in `vllm` module (tests/serve/test_vllm_engine.py). Forward tokens, peak, Dep
and model calls are reported as unknown, as for a remote server.
"""

from __future__ import annotations

from ..errors import LeanthinkError
from ..prompting import PromptStyle
from .base import OwnTokenizer
from .params import SamplingParams
from .remote import TEXT_VERBS, Generated, TextEngine, TextRow
from .sampling import stream_seed


def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise LeanthinkError("--model vllm:...: vLLM is not installed. It needs a CUDA GPU: pip install "
                             "'leanthink[vllm]' on a GPU machine, or serve the model with vLLM and use "
                             "--model openai:URL#MODEL") from None
    return vllm


class VLLMEngine(OwnTokenizer, TextEngine):   # its own tokenizer: real ids, not stand-ins
    kind = "vLLM"
    capabilities = TEXT_VERBS | {"logprobs"}

    def __init__(self, llm, tokenizer, prompt_style: PromptStyle, max_context: int, name: str):
        super().__init__(name, prompt_style, max_context)
        self.llm, self.tokenizer = llm, tokenizer
        self.device_type, self.dtype_name = "cuda", "auto"
        self._vllm = _import_vllm()

    @classmethod
    def load(cls, spec: str, device: str = "auto", dtype: str = "auto", prompt_style: str | None = None,
             max_context: int | None = None, **style_options) -> "VLLMEngine":
        from ..models.registry import model_hash, read_meta, resolve_model

        vllm = _import_vllm()
        target = spec.removeprefix("vllm:")
        directory = resolve_model(target)
        options = {"enable_prefix_caching": True, "seed": 0}
        if dtype != "auto":
            options["dtype"] = dtype
        if max_context:
            options["max_model_len"] = max_context
        if device not in ("auto", "cuda"):
            raise LeanthinkError(f"--device {device}: vLLM runs on the GPU it finds (use CUDA_VISIBLE_DEVICES to pick)")
        llm = vllm.LLM(model=str(directory), **options)
        tokenizer = llm.get_tokenizer()
        meta = read_meta(directory)
        style = prompt_style or meta.get("prompt_style") or (
            "chat" if getattr(tokenizer, "chat_template", None) else "completion")
        limit = max_context or int(getattr(getattr(llm.llm_engine, "model_config", None), "max_model_len", 0) or 1 << 20)
        engine = cls(llm, tokenizer, PromptStyle(style, **style_options), limit, name=spec)
        engine.meta, engine.model_hash = meta, model_hash(directory)
        return engine

    # ---------------------------------------------------------------- text helpers with the real tokenizer
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def _text_params(self, p: SamplingParams) -> SamplingParams:
        if p.entropy:
            self._unsupported("return entropies")
        return p   # vLLM takes token ids as they are

    def _sampling(self, row: TextRow, p: SamplingParams):
        bias = dict(p.logit_bias)
        for t in p.banned_token_ids:
            bias[t] = -100.0    # vLLM clamps biases; -100 is OpenAI's "never"
        return self._vllm.SamplingParams(
            n=1, max_tokens=p.max_new_tokens, temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or -1,
            stop=list(p.stop) or None, stop_token_ids=list(p.stop_token_ids) or None, include_stop_str_in_output=True,
            min_tokens=p.min_new_tokens, ignore_eos=p.ignore_eos, logprobs=max(1, p.logprobs),
            seed=stream_seed(row.seed, row.calls) % (1 << 63) if p.temperature > 0 else None,
            allowed_token_ids=list(p.allowed_token_ids) or None, logit_bias=bias or None)

    def _generate(self, items: list[tuple[TextRow, SamplingParams]]) -> list[Generated]:
        outs = self.llm.generate([row.prompt + row.text for row, _ in items],
                                 [self._sampling(row, p) for row, p in items], use_tqdm=False)
        results = []
        for out in outs:
            c = out.outputs[0]
            ids, reason, text, stop = list(c.token_ids), c.stop_reason, c.text, None
            if c.finish_reason == "length":
                finish = "length"
            elif reason is None:                 # finished without a stop string or stop token: EOS
                finish = "eos"
            else:                                # a stop string (kept in the text) or a stop token id
                finish, stop = "stop", reason if isinstance(reason, str) else self.decode([reason])
                if text.endswith(stop):
                    text = text[:-len(stop)]     # TextEngine puts the stop back at the end
            lps = [(lp or {}).get(t) for t, lp in zip(ids, c.logprobs or [])]
            results.append(Generated(text=text, finish=finish, stop=stop, prompt_tokens=len(out.prompt_token_ids),
                                     completion_tokens=len(ids),
                                     logprobs=[getattr(x, "logprob", x) for x in lps if x is not None] or None))
        return results
