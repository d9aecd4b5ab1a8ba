"""The micro-world's model class: a Llama with two input features that make in-context doc reading learnable
on CPU in minutes. Importing this module registers it with transformers' Auto classes.

Why (issue 14's probes): a stock 2-layer Llama trained for ~20 minutes never learned to copy a name from a
doc into its answer. Two cheap input features fix that:

* **token shift**: every position also gets a projection of the previous token's embedding (a free
  "previous token" head, the first half of an induction circuit), so copying switches on in minutes;
* **line bag**: a projection of the running mean of the token embeddings since the last newline, so a
  position knows the words of its own line (the doc line it is reading, the code line it is writing).

Both are computed from the tokens alone. During cached generation the features' running state (the last
embedding, the current line's sum and count) rides on the cache object, so ``generate`` with a KV cache gives
the same tokens as recomputing from scratch.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, DynamicCache, LlamaConfig
from transformers.models.llama.modeling_llama import LlamaForCausalLM, LlamaModel

_STATE = "_micro_state"


class MicroConfig(LlamaConfig):
    model_type = "selfevolve_micro"
    auto_map = {}  # not a dataclass field: TRL's create_model_from_path reads it; this class is registered, not remote code

    def __init__(self, token_shift: bool = True, line_bag: bool = True, newline_ids: list[int] | None = None,
                 **kwargs):
        self.token_shift = token_shift
        self.line_bag = line_bag
        self.newline_ids = list(newline_ids or [])  # token ids whose text contains a newline
        super().__init__(**kwargs)


def _carry(cache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    if cache is None or cache.get_seq_length() == 0:
        return None
    return getattr(cache, _STATE, None)


class MicroModel(LlamaModel):
    config_class = MicroConfig

    def __init__(self, config: MicroConfig):
        super().__init__(config)
        d = config.hidden_size
        self.shift_proj = nn.Linear(d, d, bias=False) if config.token_shift else None
        self.bag_proj = nn.Linear(d, d, bias=False) if config.line_bag else None
        self.post_init()

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, cache) -> torch.Tensor:
        """Token embeddings plus the two features; updates the running state on ``cache``."""
        e = self.embed_tokens(input_ids)
        b, t, _ = e.shape
        m = (attention_mask[:, -t:] if attention_mask is not None else torch.ones(b, t, device=e.device))
        m = m.to(e.dtype).unsqueeze(-1)
        em = e * m
        carry = _carry(cache)
        prev0, sum0, cnt0 = carry if carry is not None else (em.new_zeros(b, e.shape[-1]), em.new_zeros(b, e.shape[-1]),
                                                             em.new_zeros(b, 1))
        out = e
        if self.shift_proj is not None:
            prev = torch.cat([prev0.unsqueeze(1), em[:, :-1]], dim=1)
            out = out + self.shift_proj(prev)
        # a newline token starts a new line; the bag at a position covers its line up to and including it
        nl = torch.isin(input_ids, torch.tensor(self.config.newline_ids, dtype=input_ids.dtype, device=e.device))
        pos = torch.arange(t, device=e.device).expand(b, t)
        last_nl = torch.cummax(torch.where(nl, pos, torch.full_like(pos, -1)), dim=1).values
        cs, cc = em.cumsum(1), m.cumsum(1)
        ex_s, ex_c = cs - em, cc - m  # exclusive sums
        idx = last_nl.clamp(min=0).unsqueeze(-1)
        started = (last_nl >= 0).unsqueeze(-1)
        s = torch.where(started, cs - ex_s.gather(1, idx.expand_as(cs)), cs + sum0.unsqueeze(1))
        c = torch.where(started, cc - ex_c.gather(1, idx), cc + cnt0.unsqueeze(1))
        if self.bag_proj is not None:
            out = out + self.bag_proj(s / c.clamp(min=1.0))
        if cache is not None:
            setattr(cache, _STATE, (em[:, -1] if t else prev0, s[:, -1], c[:, -1]))
        return out

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, **kwargs):
        if inputs_embeds is None and input_ids is not None:
            use = use_cache if use_cache is not None else self.config.use_cache
            if use and past_key_values is None:
                past_key_values = DynamicCache(config=self.config)
            inputs_embeds = self.features(input_ids, attention_mask, past_key_values)
        return super().forward(input_ids=None, attention_mask=attention_mask, position_ids=position_ids,
                               past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                               **kwargs)


class MicroForCausalLM(LlamaForCausalLM):
    config_class = MicroConfig

    def __init__(self, config: MicroConfig):
        super().__init__(config)
        self.model = MicroModel(config)
        self.post_init()


AutoConfig.register(MicroConfig.model_type, MicroConfig, exist_ok=True)
AutoModel.register(MicroConfig, MicroModel, exist_ok=True)
AutoModelForCausalLM.register(MicroConfig, MicroForCausalLM, exist_ok=True)
