"""VLMs at a real or a tiny shape with random weights, built with no download: benchmarks, tests.

A byte-level tokenizer (256 byte tokens, no merges, plus the model's special tokens) stands in
for the real one: every text encodes, and the processor, chat template, image tokens and
generation run exactly as with downloaded weights. Text prompts come out ~4x longer in
tokens than with the real BPE vocabulary; image tokens are exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    AutoModelForImageTextToText,
    Idefics3Config,
    Idefics3ImageProcessor,
    Idefics3Processor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

# The public chat templates of Qwen2.5-VL-Instruct and SmolVLM-Instruct (images in place).
QWEN_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
IDEFICS3_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
)


def byte_tokenizer(
    specials: Sequence[str], *, eos: str, pad: str, bos: str | None = None
) -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: ids 0-255 are bytes, the specials follow."""
    vocab = {c: i for i, c in enumerate(sorted(bytes_to_unicode().values()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=eos,
        pad_token=pad,
        bos_token=bos,
        additional_special_tokens=list(specials),
    )


def _ids(tokenizer: PreTrainedTokenizerFast, specials: Sequence[str]) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in specials}


def qwen25_vl(
    size: str = "tiny", *, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[torch.nn.Module, Qwen2_5_VLProcessor]:
    """Qwen2.5-VL: "3b" has Qwen2.5-VL-3B-Instruct's shapes (3.75 B parameters), "tiny" ~0.1 M."""
    tokenizer = byte_tokenizer(QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>")
    ids = _ids(tokenizer, QWEN_SPECIALS)
    if size == "3b":
        text = dict(
            vocab_size=151936,
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            max_position_embeddings=128000,
            tie_word_embeddings=True,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [16, 24, 24],
            },
        )
        vision = dict(
            depth=32,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            out_hidden_size=2048,
            fullatt_block_indexes=[7, 15, 23, 31],
            tokens_per_second=2,
        )
        image = Qwen2VLImageProcessor()
    elif size == "tiny":
        text = dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [1, 1, 2]},
        )
        vision = dict(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=32,
            window_size=56,
            fullatt_block_indexes=[0],
        )
        image = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=56 * 56)
    else:
        raise ValueError(f"size must be 'tiny' or '3b', not {size!r}")
    text.update(
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|im_start|>"],
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    processor = Qwen2_5_VLProcessor(
        image_processor=image,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_TEMPLATE,
    )
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model.eval(), processor


def idefics3_tiny(
    *, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[torch.nn.Module, Idefics3Processor]:
    """A SmolVLM-Instruct-style Idefics3 (SigLIP + pixel shuffle + Llama), ~0.05 M parameters."""
    tokenizer = byte_tokenizer(
        IDEFICS3_SPECIALS, eos="<end_of_utterance>", pad="<|endoftext|>", bos="<|im_start|>"
    )
    ids = _ids(tokenizer, IDEFICS3_SPECIALS)
    # 32 px images in 8 px patches, pixel shuffle 2: (32 / 8) ** 2 / 2 ** 2 = 4 tokens per image
    image = Idefics3ImageProcessor(
        size={"longest_edge": 32}, max_image_size={"longest_edge": 32}, do_image_splitting=False
    )
    processor = Idefics3Processor(
        image_processor=image, tokenizer=tokenizer, image_seq_len=4, chat_template=SMOLVLM_TEMPLATE
    )
    config = Idefics3Config(
        text_config=dict(
            model_type="llama",
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            eos_token_id=ids["<end_of_utterance>"],
            pad_token_id=ids["<|endoftext|>"],
            bos_token_id=ids["<|im_start|>"],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),  # fmt: skip
        image_token_id=ids["<image>"],
        scale_factor=2,
        pad_token_id=ids["<|endoftext|>"],
    )
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = ids["<end_of_utterance>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model.eval(), processor
