"""Reusable pieces of the Transformer course, one concept per module.

The notation card, one meaning per letter: this package's docstrings, comments and shape
comments and every notebook use it (the start page, notebooks/00, shows the same card;
tests/test_notation.py keeps the two equal):

    B       batch: sequences (or images) in a batch
    T       query length: tokens in a sequence
    S       key/value length (S = T in self-attention)
    C       model width, d_model
    H       heads
    D       head width, C/H: the paper's d_k (and d_v)
    V       vocabulary size
    L       layers (blocks)
    n       examples in a data set
    t, s    positions: a query's t < T, a key's s < S
    τ       softmax temperature
    R       image side in pixels: an R×R image
    C_in    image channels (1 grey, 3 colour)
    P       patch side in pixels
    G       patches per side of a grid, R/P
    N       patches of an image, G²
    M       window side in patches (Swin)

So √d_k in softmax(QKᵀ/√d_k)V is √D (√C for a single head of full width). An image is
(B, C_in, R, R); a Swin feature map of patches is (B, G, G, C), channels last, or
(B, G_h, G_w, C) when it is not square. Code keeps PyTorch's own names where it has them
(``head_dim``, ``num_layers``; ``H, W`` for an image's height and width in PyTorch's own
functions).

The mask convention, stated once for the whole package:

    A mask is a boolean tensor that broadcasts to the scores, shape (..., T, S).
    True means "this query may attend to this key"; False means "blocked".

This is the convention of ``torch.nn.functional.scaled_dot_product_attention``.
``torch.nn.MultiheadAttention`` uses the opposite one (True means blocked);
the masks module converts at that boundary.

What the package exports, one rule: every public class and function of every module is
also available at the top level (``helpers.MultiHeadAttention`` is
``helpers.multihead.MultiHeadAttention``), except the exercise checks, which stay in
``helpers.exercises``, and the learner's own pieces, reached as
``helpers.yours.piece("MultiHeadAttention")`` (helpers/yours.py). tests/test_package.py
keeps this list complete.

Importing the package also sets matplotlib's defaults to the course's figure style
(helpers/style.py): figures as wide as the notebook column, text legible when projected.
"""
from helpers import exercises, yours
from helpers.applications import (
    Names, TokenHead, best_span, encode_qa, encode_tagged, encoder_features, exact_match,
    qa_examples, span_loss, tag_scores, tag_sentences,
)
from helpers.attention import AdditiveAttention, SelfAttention, scaled_dot_product_attention
from helpers.bpe import BPETokenizer, encode_bpe, merge, pair_counts, train_bpe
from helpers.byte_bpe import ByteLevelBPE, bytes_to_unicode, library_tokenizer, pre_tokenize
from helpers.decoder import (
    DecoderBlock, EncoderDecoder, Seq2SeqConfig, copy_decoder_block_to_torch,
)
from helpers.encoder import (
    Encoder, EncoderBlock, EncoderConfig, LayerNorm, MLP, ReviewClassifier,
    copy_encoder_block_to_torch,
)
from helpers.flashcards import Flashcards, load_cards
from helpers.generation import (
    beam_search, generate, greedy_decode, sample_next, top_k_filter, top_p_filter,
)
from helpers.gpt import GPT, GPTBlock, GPTConfig
from helpers.interp import (
    ablate_head, induction_score, induction_targets, mean_output, previous_token_score,
    replace_output,
)
from helpers.llama import (
    GGUFRow, GroupedQueryAttention, Llama, LlamaBlock, LlamaConfig, RMSNorm, SwiGLU, answer,
    cache_bytes, dequantize, dequantize_q4_1, dequantize_q8_0, generate_ids, gguf_mapping,
    gguf_mapping_table, gguf_path, gguf_problems, load_gguf_state, load_reference_llama,
    load_smollm2, parameter_bytes, read_gguf, repeat_kv, to_hf_state_dict,
    unpermute,
)
from helpers.masks import (
    causal_mask, combine, from_pytorch, padding_mask, padding_mask_from_tokens, to_pytorch,
)
from helpers.multihead import KVCache, MultiHeadAttention, cached_length, copy_attention_to_torch
from helpers.positional import (
    LearnedPositions, SinusoidalPositions, alibi_bias, alibi_slopes, relative_similarity,
    rotary, sinusoidal_encoding,
)
from helpers.pretrained import (
    BertConfig, BertEmbeddings, MappingRow, PretrainedEncoder, block_problems, checkpoint_problems,
    docstring_sentences, embed_sentences, encode_batch, head_pattern_scores, load_checkpoint,
    load_pretrained, load_reference, load_state, load_tokenizer, mapping_table, mean_pool,
    model_path, reference_outputs, sentence_embedding, split_state, weight_mapping,
)
from helpers.progress import (
    Progress, ProgressFileWarning, card_is_due, leitner_interval, leitner_schedule,
    progress_path,
)
from helpers.report import pieces_report, progress_command, progress_report
from helpers.reproducibility import ClaimFailed, expect, seed_everything
from helpers.style import fits_numbers, panel_grid, text_inches, use_course_style
from helpers.tasks import (
    char_vocabulary, date_task, encode_chars, encode_reviews, load_names, reverse_task,
    review_task, review_vocabulary,
)
from helpers.training import History, accuracy, fit, learning_rate_factor
from helpers.vit import (
    Augmented, EncoderBlockWithWeights, RandomShift, SmallCNN, ViT, ViTConfig, attention_rollout,
    check_images, returning_weights,
    copy_vit_to_torchvision, load_digits_split, mean_attention_distance, patch_distances,
    patchify, position_similarity, subsample, torchvision_vit, vit_b_16_reference,
)
from helpers.visualisation import plot_attention, plot_history
from helpers.widgets import (
    AttentionExplorer, ChatBox, ViTExplorer, MaskLab, PositionExplorer, ReceptiveFieldExplorer,
    SamplingExplorer, SoftLookupExplorer, figure_to_png,
)
from helpers.windows import (
    PatchMerging, Swin, SwinBlock, SwinConfig, WindowAttention, attention_weight_counts,
    check_feature_map, receptive_field, relative_position_index, shift_region_labels,
    shifted_window_mask, torchvision_patch_merging, torchvision_window_attention,
    two_corners_task, window_connections, window_partition, window_reverse,
)

__all__ = [
    "AdditiveAttention", "AttentionExplorer", "Augmented", "BPETokenizer", "BertConfig", "BertEmbeddings",
    "ByteLevelBPE", "ChatBox", "ClaimFailed", "DecoderBlock", "Encoder", "EncoderBlock",
    "EncoderBlockWithWeights", "EncoderConfig", "EncoderDecoder", "Flashcards", "GGUFRow",
    "GPT", "GPTBlock", "GPTConfig", "GroupedQueryAttention", "History", "KVCache", "LayerNorm",
    "LearnedPositions", "Llama", "LlamaBlock", "LlamaConfig", "MLP", "MappingRow", "MaskLab",
    "MultiHeadAttention", "Names", "PatchMerging", "PositionExplorer", "PretrainedEncoder", "Progress",
    "ProgressFileWarning", "RMSNorm", "RandomShift", "ReceptiveFieldExplorer", "ReviewClassifier",
    "SamplingExplorer", "SelfAttention", "Seq2SeqConfig", "SinusoidalPositions", "SmallCNN",
    "SoftLookupExplorer", "SwiGLU", "Swin", "SwinBlock", "SwinConfig", "TokenHead", "ViT", "ViTConfig",
    "ViTExplorer", "WindowAttention", "ablate_head", "accuracy", "alibi_bias", "alibi_slopes", "answer",
    "attention_rollout", "attention_weight_counts", "beam_search", "best_span", "block_problems",
    "bytes_to_unicode", "cache_bytes", "cached_length", "card_is_due", "causal_mask",
    "char_vocabulary", "check_feature_map", "check_images", "checkpoint_problems", "combine",
    "copy_attention_to_torch", "copy_decoder_block_to_torch", "copy_encoder_block_to_torch",
    "copy_vit_to_torchvision", "date_task", "dequantize", "dequantize_q4_1", "dequantize_q8_0",
    "docstring_sentences", "embed_sentences", "encode_batch", "encode_bpe", "encode_chars",
    "encode_qa", "encode_reviews", "encode_tagged", "encoder_features", "exact_match",
    "expect", "figure_to_png", "fit", "fits_numbers", "from_pytorch", "generate",
    "generate_ids", "gguf_mapping", "gguf_mapping_table", "gguf_path", "gguf_problems",
    "greedy_decode", "head_pattern_scores", "induction_score", "induction_targets",
    "learning_rate_factor", "leitner_interval",
    "leitner_schedule", "library_tokenizer", "load_cards", "load_checkpoint",
    "load_digits_split", "load_gguf_state", "load_names", "load_pretrained", "load_reference",
    "load_reference_llama", "load_smollm2", "load_state", "load_tokenizer", "mapping_table",
    "mean_attention_distance", "mean_output", "mean_pool", "merge", "model_path", "padding_mask",
    "padding_mask_from_tokens", "pair_counts", "panel_grid", "parameter_bytes",
    "patch_distances", "patchify", "pieces_report", "plot_attention", "plot_history",
    "position_similarity", "pre_tokenize", "previous_token_score", "progress_command", "progress_path",
    "progress_report", "qa_examples", "read_gguf", "receptive_field", "reference_outputs",
    "relative_position_index", "relative_similarity", "repeat_kv", "replace_output",
    "returning_weights",
    "reverse_task", "review_task", "review_vocabulary", "rotary", "sample_next",
    "scaled_dot_product_attention", "seed_everything", "sentence_embedding",
    "shift_region_labels", "shifted_window_mask", "sinusoidal_encoding", "span_loss", "split_state",
    "subsample", "tag_scores", "tag_sentences", "text_inches", "to_hf_state_dict", "to_pytorch", "top_k_filter",
    "top_p_filter", "torchvision_patch_merging", "torchvision_vit",
    "torchvision_window_attention", "train_bpe", "two_corners_task", "unpermute",
    "use_course_style",
    "vit_b_16_reference", "weight_mapping", "window_connections", "window_partition",
    "window_reverse",
]

use_course_style()  # the course's figure style (helpers/style.py): sized to the notebook column
