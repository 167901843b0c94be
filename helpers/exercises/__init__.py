"""Checks for the notebooks' exercises, one module per notebook. Each says in words what
is wrong, not only "wrong".

A check runs the learner's function on fixed inputs, compares the result with the
reference, and, when they differ, with the results of the usual mistakes, so that it
can name the mistake. It returns a ``Check``, which prints as its message. Every check
is also available here: ``exercises.check_softmax``.
"""
from helpers.exercises._common import Check, recording_passes
from helpers.exercises.soft_lookup import check_softmax, check_scaled_scores, check_attention
from helpers.exercises.self_attention import check_self_attention, check_parameter_count, check_cross_attention
from helpers.exercises.masking import check_causal_mask, check_masked_softmax, check_to_torch_mha
from helpers.exercises.multihead import check_split_heads, check_merge_heads, check_mha_parameter_count
from helpers.exercises.positional import check_sinusoidal, check_alibi
from helpers.exercises.encoder import (
    check_block_parameter_count, check_encoder_block, check_gelu, check_layernorm, check_mlp,
    check_post_norm, check_pre_norm,
)
from helpers.exercises.decoder import check_decoder_block, check_next_token, check_teacher_forcing
from helpers.exercises.gpt import check_cached_step, check_gpt_forward, check_temperature, check_top_k
from helpers.exercises.bpe import check_encode, check_merge, check_train_bpe
from helpers.exercises.vit import (
    check_attention_cost, check_num_position_embeddings, check_patchify,
)
from helpers.exercises.pretrained import check_layer_mapping, check_mean_pooling
from helpers.exercises.windows import check_window_cost, check_window_mask, check_window_partition
from helpers.exercises.llama import (
    check_chat_prompt, check_gqa_attention, check_q4_1_block, check_rms_norm, check_swiglu,
)

__all__ = [
    "Check",
    "check_alibi",
    "check_attention",
    "check_attention_cost",
    "check_block_parameter_count",
    "check_cached_step",
    "check_causal_mask",
    "check_chat_prompt",
    "check_cross_attention",
    "check_decoder_block",
    "check_encode",
    "check_encoder_block",
    "check_gelu",
    "check_gpt_forward",
    "check_gqa_attention",
    "check_layer_mapping",
    "check_layernorm",
    "check_masked_softmax",
    "check_mean_pooling",
    "check_merge",
    "check_merge_heads",
    "check_mha_parameter_count",
    "check_mlp",
    "check_next_token",
    "check_num_position_embeddings",
    "check_parameter_count",
    "check_patchify",
    "check_post_norm",
    "check_pre_norm",
    "check_q4_1_block",
    "check_rms_norm",
    "check_scaled_scores",
    "check_self_attention",
    "check_sinusoidal",
    "check_softmax",
    "check_split_heads",
    "check_swiglu",
    "check_teacher_forcing",
    "check_temperature",
    "check_to_torch_mha",
    "check_top_k",
    "check_train_bpe",
    "check_window_cost",
    "check_window_mask",
    "check_window_partition",
]

# Every check also records a pass in the learner's progress file (python3 course.py progress).
for _name in __all__:
    if _name.startswith("check_"):
        globals()[_name] = recording_passes(globals()[_name])
