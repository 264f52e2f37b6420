"""Tiny stand-ins for the paper's model stack, built from configs after ``manual_seed(0)``.

Same architectures as Tango and AudioLDM (UNet2DConditionModel, AutoencoderKL, SpeechT5HifiGan,
FLAN-T5 / CLAP text encoders), shrunk: 16 mels at 1600 Hz with hop 16 (100 mel frames/s, like
the real 16 kHz / hop 160), a 0.64 s window, tokenizers made offline from a word list. The
folder writers lay them out exactly as the loaders expect real checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    ClapTextConfig,
    ClapTextModelWithProjection,
    PreTrainedTokenizerFast,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
)

from sonicvision.server.models.loading import TANGO_SCHEDULER_CONFIG, LDMComponents

WORDS = """a an the door slams dog barks footsteps on gravel glass breaks rain thunder metal
clang knock wood car engine whoosh step hit of and""".split()
TEXT_DIM = 24  # T5 d_model / CLAP projection
MODEL_RATE = 1600
N_MELS = 16
WINDOW_S = 0.64


def word_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """A WordLevel tokenizer with T5's (pad 0, </s> 1) or RoBERTa's (<s> 0, pad 1) specials."""
    if kind == "t5":
        specials = ["<pad>", "</s>", "<unk>"]
        template, bos = "$A </s>", None
    else:
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        template, bos = "<s> $A </s>", "<s>"
    vocab = {tok: i for i, tok in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(s, vocab[s]) for s in specials if s in template]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token=bos,
        model_max_length=12,
    )


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
        scaling_factor=0.9227914,
    )


def tiny_vocoder() -> SpeechT5HifiGan:
    torch.manual_seed(0)
    config = SpeechT5HifiGanConfig(
        model_in_dim=N_MELS,
        sampling_rate=MODEL_RATE,
        upsample_initial_channel=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        normalize_before=False,
    )
    return SpeechT5HifiGan(config)


def tiny_unet(variant: str) -> UNet2DConditionModel:
    torch.manual_seed(0)
    common = dict(
        block_out_channels=(16, 32),
        layers_per_block=1,
        in_channels=4,
        out_channels=4,
        norm_num_groups=8,
        attention_head_dim=8,
    )
    if variant == "tango":
        return UNet2DConditionModel(
            **common,
            sample_size=(32, 8),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=TEXT_DIM,
            use_linear_projection=True,
            upcast_attention=True,
        )
    return UNet2DConditionModel(
        **common,
        sample_size=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=(16, 32),
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=TEXT_DIM,
        class_embeddings_concat=True,
    )


def tiny_text_encoder(variant: str):
    torch.manual_seed(0)
    if variant == "tango":
        return T5EncoderModel(
            T5Config(
                vocab_size=3 + len(WORDS),
                d_model=TEXT_DIM,
                d_kv=8,
                d_ff=32,
                num_layers=1,
                num_heads=2,
                feed_forward_proj="gated-gelu",
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
            )
        )
    return ClapTextModelWithProjection(
        ClapTextConfig(
            vocab_size=4 + len(WORDS),
            hidden_size=16,
            intermediate_size=24,
            num_attention_heads=2,
            num_hidden_layers=1,
            max_position_embeddings=40,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            projection_dim=TEXT_DIM,
        )
    )


def audioldm_scheduler_config() -> dict:
    return dict(
        DDIMScheduler(
            beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear", clip_sample=False
        ).config
    )


def tiny_components(variant: str = "tango") -> LDMComponents:
    """In-memory components, frozen, as ``load_ldm`` returns them."""
    tokenizer = word_tokenizer("t5" if variant == "tango" else "roberta")
    scheduler = dict(TANGO_SCHEDULER_CONFIG) if variant == "tango" else audioldm_scheduler_config()
    return LDMComponents(
        variant,
        Path(f"/tiny/{variant}"),
        tiny_unet(variant),
        tiny_vae(),
        tiny_vocoder(),
        tiny_text_encoder(variant),
        tokenizer,
        scheduler,
        "cross_attention" if variant == "tango" else "class_labels",
    ).freeze()


def save_audioldm(folder: Path) -> Path:
    """A diffusers AudioLDMPipeline folder (model_index.json + one folder per component)."""
    c = tiny_components("audioldm")
    c.unet.save_pretrained(folder / "unet")
    c.vae.save_pretrained(folder / "vae")
    c.vocoder.save_pretrained(folder / "vocoder")
    c.text_encoder.save_pretrained(folder / "text_encoder")
    c.tokenizer.save_pretrained(folder / "tokenizer")
    DDIMScheduler.from_config(c.scheduler_config).save_pretrained(folder / "scheduler")
    index = {
        "_class_name": "AudioLDMPipeline",
        "_diffusers_version": "0.15.0.dev0",
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "ClapTextModelWithProjection"],
        "tokenizer": ["transformers", "RobertaTokenizerFast"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "vocoder": ["transformers", "SpeechT5HifiGan"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


def save_tango(folder: Path, main_bin: bool = False) -> Path:
    """Tango's layout; with ``main_bin`` the UNet comes as Tango's own pytorch_model_main.bin."""
    c = tiny_components("tango")
    if main_bin:
        (folder / "unet").mkdir(parents=True)
        (folder / "unet" / "config.json").write_text(json.dumps(dict(c.unet.config)))
        state = {f"unet.{k}": v for k, v in c.unet.state_dict().items()}
        state |= {f"text_encoder.{k}": v for k, v in c.text_encoder.state_dict().items()}
        torch.save(state, folder / "pytorch_model_main.bin")
    else:
        c.unet.save_pretrained(folder / "unet")
    c.vae.save_pretrained(folder / "vae")
    c.vocoder.save_pretrained(folder / "vocoder")
    c.text_encoder.save_pretrained(folder / "text_encoder")
    c.tokenizer.save_pretrained(folder / "text_encoder")
    return folder
