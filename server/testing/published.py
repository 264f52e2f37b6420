"""Model folders in the published layouts, built from the published configuration files.

The configs are vendored in ``tests/fixtures/models/`` (cvssp/audioldm-s-full-v2,
declare-lab/tango, google/flan-t5-large, Qwen/Qwen2.5-VL-3B-Instruct,
HuggingFaceTB/SmolVLM-256M-Instruct; see the NOTES.md there). Weights are random, seeded. With
``reduce`` the folders are small enough for a 2-core CPU: only layer counts and channel widths
change (``REDUCTIONS`` lists every change); what the pipeline depends on stays as published:
vocoder upsampling rates and kernels, the VAE's levels, latent channels and scaling factor,
sample sizes, mel bins, text widths, vocabularies and special-token ids, processor settings.

Tokenizers are stand-ins: the real tokenizer.json / spiece.model files (1-7 MB) are not
vendored. A byte-level BPE without merges carries the published special tokens at their
published ids, inside the published vocabulary size, with the published tokenizer_config.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    ClapTextConfig,
    ClapTextModelWithProjection,
    PreTrainedTokenizerFast,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

AUDIOLDM = "audioldm-s-full-v2"
TANGO = "tango"
FLAN_T5 = "flan-t5-large"

# What a 2-core CPU cannot run at the published size (measured here: the published HiFi-GAN
# takes 27.5 s for one 10.24 s window, the published VAE 20 s to decode it).
REDUCTIONS: dict[str, dict[str, Any]] = {
    "audioldm/unet": {
        "block_out_channels": [32, 64, 96, 160],
        "cross_attention_dim": [32, 64, 96, 160],
        "layers_per_block": 1,
    },
    "audioldm/vae": {"block_out_channels": [32, 32, 64], "layers_per_block": 1},
    "vocoder": {"upsample_initial_channel": 64},
    "audioldm/text_encoder": {"num_hidden_layers": 1},
    "tango/unet": {
        "block_out_channels": [40, 80, 160, 160],  # / 5, 10, 20 heads: 8 channels a head
        "layers_per_block": 1,
        "norm_num_groups": 8,
    },
    "tango/vae": {"ch": 32, "num_res_blocks": 1},
    "flan-t5": {"num_layers": 1},
}


def read(fixtures: Path, name: str) -> dict[str, Any]:
    return json.loads((Path(fixtures) / name).read_text())


def _reduced(config: dict[str, Any], key: str, reduce: bool) -> dict[str, Any]:
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    return config | REDUCTIONS[key] if reduce else config


# ---- tokenizer stand-ins -------------------------------------------------------------------


def byte_tokenizer_at(
    specials: dict[str, int],
    vocab_size: int,
    *,
    first_byte: int = 0,
    **named: str,
) -> PreTrainedTokenizerFast:
    """Byte-level BPE (no merges): bytes at ``first_byte`` .. +255, specials at their ids.

    Ids between are never produced; the model's vocabulary keeps its published size.
    """
    vocab: dict[str, int] = {}
    for i, char in enumerate(sorted(bytes_to_unicode().values())):
        vocab[char] = first_byte + i
    taken = set(vocab.values())
    for token, index in specials.items():
        if index in taken or index >= vocab_size:
            raise ValueError(f"special {token!r} id {index} collides or is out of range")
        vocab[token] = index
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return PreTrainedTokenizerFast(tokenizer_object=backend, **named)


def roberta_tokenizer(config: dict[str, Any], vocab_size: int) -> PreTrainedTokenizerFast:
    """RoBERTa's specials (<s> 0, <pad> 1, </s> 2, <unk> 3, <mask> last), bytes after them."""
    specials = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": vocab_size - 1}
    tok = byte_tokenizer_at(
        specials,
        vocab_size,
        first_byte=4,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=int(config["model_max_length"]),
    )
    tok.backend_tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tok


def t5_tokenizer(config: dict[str, Any], vocab_size: int) -> PreTrainedTokenizerFast:
    """T5's specials (<pad> 0, </s> 1, <unk> 2), bytes after them, </s> appended."""
    tok = byte_tokenizer_at(
        {"<pad>": 0, "</s>": 1, "<unk>": 2},
        vocab_size,
        first_byte=3,
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=int(config["model_max_length"]),
    )
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return tok


# ---- the audio LDMs ------------------------------------------------------------------------


def _vocoder(config: dict[str, Any], reduce: bool) -> SpeechT5HifiGan:
    config = {k: v for k, v in config.items() if k not in ("architectures", "torch_dtype")}
    config |= REDUCTIONS["vocoder"] if reduce else {}
    return SpeechT5HifiGan(SpeechT5HifiGanConfig(**config)).eval()


def _flan_t5(fixtures: Path, reduce: bool) -> tuple[T5EncoderModel, PreTrainedTokenizerFast]:
    config = read(fixtures, f"{FLAN_T5}/config.json")
    config = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version")}
    config |= REDUCTIONS["flan-t5"] if reduce else {}
    model = T5EncoderModel(T5Config(**config)).eval()
    tok = t5_tokenizer(read(fixtures, f"{FLAN_T5}/tokenizer_config.json"), config["vocab_size"])
    return model, tok


def save_audioldm(fixtures: Path, folder: Path, reduce: bool = True) -> Path:
    """cvssp/audioldm-s-full-v2 as ``huggingface-cli download`` leaves it (random weights)."""
    fixtures, folder = Path(fixtures), Path(folder)
    src = fixtures / AUDIOLDM
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**_reduced(read(src, "unet/config.json"), "audioldm/unet", reduce))
    vae = AutoencoderKL(**_reduced(read(src, "vae/config.json"), "audioldm/vae", reduce))
    vocoder = _vocoder(read(src, "vocoder/config.json"), reduce)
    text = read(src, "text_encoder/config.json")
    text = {k: v for k, v in text.items() if k not in ("architectures", "torch_dtype")}
    text |= REDUCTIONS["audioldm/text_encoder"] if reduce else {}
    text_encoder = ClapTextModelWithProjection(ClapTextConfig(**text))
    tokenizer = roberta_tokenizer(read(src, "tokenizer/tokenizer_config.json"), text["vocab_size"])
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    vocoder.save_pretrained(folder / "vocoder")
    text_encoder.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "tokenizer")
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "scheduler" / "scheduler_config.json", folder / "scheduler")
    shutil.copy(src / "model_index.json", folder)
    return folder


def ldm_vae_state(vae: AutoencoderKL) -> dict[str, torch.Tensor]:
    """A diffusers AutoencoderKL's weights under the LDM/audioldm names Tango's file uses.

    The inverse of diffusers' ``convert_ldm_vae_checkpoint`` (which the loader uses), so a
    round trip through both is the identity (tested).
    """
    levels = len(vae.config.block_out_channels)
    attention = {
        "group_norm": "norm",
        "to_q": "q",
        "to_k": "k",
        "to_v": "v",
        "to_out.0": "proj_out",
    }
    out = {}
    for key, value in vae.state_dict().items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        new = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", new)
        new = re.sub(
            r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", new
        )
        new = re.sub(
            r"decoder\.up_blocks\.(\d+)\.resnets\.",
            lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.",
            new,
        )
        new = re.sub(
            r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
            lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.",
            new,
        )
        new = re.sub(
            r"mid_block\.resnets\.(\d+)\.", lambda m: f"mid.block_{int(m.group(1)) + 1}.", new
        )
        if ".mid_block.attentions.0." in new:
            new = new.replace("mid_block.attentions.0.", "mid.attn_1.")
            for theirs, ours in attention.items():
                new = new.replace(f"attn_1.{theirs}.", f"attn_1.{ours}.")
            if value.dim() == 2:  # LDM's attention projections are 1x1 convs
                value = value[:, :, None, None]
        out[new] = value.clone()
    return out


def tango_vocoder_names(vocoder: SpeechT5HifiGan) -> dict[str, torch.Tensor]:
    """SpeechT5HifiGan's weights as Tango's VAE file holds them: ``vocoder.ups.i`` ..."""
    out = {}
    for key, value in vocoder.state_dict().items():
        if key in ("mean", "scale"):
            continue
        out["vocoder." + key.replace("upsampler.", "ups.")] = value.clone()
    return out


def save_tango(fixtures: Path, folder: Path, reduce: bool = True) -> Path:
    """declare-lab/tango as ``huggingface-cli download`` leaves it, plus flan-t5-large.

    Tango's own files: main_config.json, pytorch_model_main.bin (``unet.*`` and
    ``text_encoder.*``), vae_config.json and pytorch_model_vae.bin (audioldm names, with the
    HiFi-GAN as ``vocoder.*``), stft_config.json; FLAN-T5 in text_encoder/. With ``reduce``
    the smaller UNet config goes where main_config.json says (configs/...json): the published
    one is what the loader uses when that file is absent, as in the real download.
    """
    fixtures, folder = Path(fixtures), Path(folder)
    src = fixtures / TANGO
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    unet_config = _reduced(read(src, "diffusion_model_config.json"), "tango/unet", reduce)
    unet = UNet2DConditionModel(**unet_config)
    vae_json = read(src, "vae_config.json")
    if reduce:
        vae_json = copy.deepcopy(vae_json)
        vae_json["ddconfig"] |= REDUCTIONS["tango/vae"]
    from ..models.loading import TANGO_VOCODER_CONFIG, tango_vae_config

    vae = AutoencoderKL(**tango_vae_config(vae_json))
    width = REDUCTIONS["vocoder"]["upsample_initial_channel"] if reduce else 1024
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(**TANGO_VOCODER_CONFIG, upsample_initial_channel=width)
    )
    text_encoder, tokenizer = _flan_t5(fixtures, reduce)

    main = read(src, "main_config.json")
    (folder / "main_config.json").write_text(json.dumps(main))
    if reduce:
        config_path = folder / main["unet_model_config_path"]
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(unet_config, indent=2))
    state = {f"unet.{k}": v for k, v in unet.state_dict().items()}
    state |= {f"text_encoder.{k}": v for k, v in text_encoder.state_dict().items()}
    torch.save(state, folder / "pytorch_model_main.bin")
    (folder / "vae_config.json").write_text(json.dumps(vae_json))
    torch.save(ldm_vae_state(vae) | tango_vocoder_names(vocoder), folder / "pytorch_model_vae.bin")
    shutil.copy(src / "stft_config.json", folder)
    text_encoder.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "text_encoder")
    return folder


# ---- the VLMs ------------------------------------------------------------------------------

QWEN = "qwen2.5-vl-3b-instruct"
SMOLVLM = "smolvlm-256m-instruct"
# Qwen2.5's added tokens (tokenizer.json of Qwen/Qwen2.5-VL-3B-Instruct), at their ids
QWEN_SPECIAL_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}
# SmolVLM's (SmolLM2 vocabulary + Idefics3's image tokens): <image> 49190 is config.json's
# image_token_id; the 6 x 6 tile tokens sit between <global-img> and <fake_token_around_image>
SMOLVLM_SPECIAL_IDS = {
    "<|endoftext|>": 0,
    "<|im_start|>": 1,
    "<|im_end|>": 2,
    "<global-img>": 49152,
    **{
        f"<row_{r}_col_{c}>": 49153 + (r - 1) * 6 + (c - 1)
        for r in range(1, 7)
        for c in range(1, 7)
    },
    "<fake_token_around_image>": 49189,
    "<image>": 49190,
    "<end_of_utterance>": 49279,
}
VLM_REDUCTIONS = {
    QWEN: {"text": {"num_hidden_layers": 1}, "vision": {"depth": 1, "fullatt_block_indexes": [0]}},
    SMOLVLM: {"text": {"num_hidden_layers": 1}, "vision": {"num_hidden_layers": 1}},
}


def _vlm_config(fixtures: Path, name: str, reduce: bool):
    from transformers import AutoConfig

    config = read(fixtures, f"{name}/config.json")
    text_key = "text_config" if "text_config" in config else None
    if reduce:
        if text_key:
            config[text_key] |= VLM_REDUCTIONS[name]["text"]
        else:
            config |= VLM_REDUCTIONS[name]["text"]
        config["vision_config"] |= VLM_REDUCTIONS[name]["vision"]
    model_type = config.pop("model_type")
    return AutoConfig.for_model(model_type, **config)


def _processor_settings(preprocessor: dict[str, Any]) -> dict[str, Any]:
    names = ("image_processor_type", "processor_class")
    return {k: v for k, v in preprocessor.items() if k not in names}


def _save_vlm(config, folder: Path) -> None:
    """Random bf16 weights (normal, std 0.02; norms 1), filled directly: a real-width
    vocabulary (Qwen: 151936 x 2048) takes ~10 s through the models' own initialisers."""
    from transformers import AutoModelForImageTextToText

    generator = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.to_empty(device="cpu")
    model.tie_weights()  # to_empty gives tied tensors their own storage
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name and param.dim() == 1:
                param.fill_(1.0)
            elif name.endswith("bias"):
                param.zero_()
            else:
                noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
                param.copy_(noise * 0.02)
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    saved = [k for k in model.state_dict() if k not in params]
    if saved:  # to_empty leaves buffers unset: only non-persistent ones may exist here
        raise RuntimeError(f"persistent buffers would be saved uninitialised: {saved[:3]}")
    model.save_pretrained(folder)


def save_qwen25_vl(
    fixtures: Path,
    folder: Path,
    image_processor_type: str = "Qwen2_5_VLImageProcessor",
    reduce: bool = True,
) -> Path:
    """Qwen2.5-VL-3B-Instruct's layout as fine-tunes of early 2025 carry it: config.json,
    weights, preprocessor_config.json naming ``image_processor_type``, tokenizer, template."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from .models import QWEN_TEMPLATE

    fixtures, folder = Path(fixtures), Path(folder)
    config = _vlm_config(fixtures, QWEN, reduce)
    _save_vlm(config, folder)
    tokenizer = byte_tokenizer_at(
        QWEN_SPECIAL_IDS,
        config.text_config.vocab_size,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_IDS),
    )
    preprocessor = read(fixtures, f"{QWEN}/preprocessor_config.json")
    settings = {
        k: v
        for k, v in preprocessor.items()
        if k not in ("image_processor_type", "processor_class")
    }
    Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**settings),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_TEMPLATE,
    ).save_pretrained(folder)
    # the files as a fine-tune of early 2025 has them: the image processor's settings in
    # preprocessor_config.json under the name its training script wrote, no processor_config
    (folder / "processor_config.json").unlink(missing_ok=True)
    (folder / "preprocessor_config.json").write_text(
        json.dumps(preprocessor | {"image_processor_type": image_processor_type}, indent=2)
    )
    shutil.copy(fixtures / QWEN / "generation_config.json", folder)
    return folder


def save_smolvlm(fixtures: Path, folder: Path, reduce: bool = True) -> Path:
    """HuggingFaceTB/SmolVLM-256M-Instruct's complete folder (random weights, stand-in
    tokenizer): its processor upscales to 2048 px and tiles at 512 px, as published."""
    from transformers import Idefics3ImageProcessor, Idefics3Processor

    from .models import SMOLVLM_TEMPLATE

    fixtures, folder = Path(fixtures), Path(folder)
    config = _vlm_config(fixtures, SMOLVLM, reduce)
    _save_vlm(config, folder)
    tokenizer = byte_tokenizer_at(
        SMOLVLM_SPECIAL_IDS,
        config.text_config.vocab_size,
        first_byte=3,
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=list(SMOLVLM_SPECIAL_IDS),
    )
    preprocessor = read(fixtures, f"{SMOLVLM}/preprocessor_config.json")
    settings = {
        k: v
        for k, v in preprocessor.items()
        if k not in ("image_processor_type", "processor_class")
    }
    seq_len = read(fixtures, f"{SMOLVLM}/processor_config.json")["image_seq_len"]
    Idefics3Processor(
        image_processor=Idefics3ImageProcessor(**settings),
        tokenizer=tokenizer,
        image_seq_len=seq_len,
        chat_template=SMOLVLM_TEMPLATE,
    ).save_pretrained(folder)
    shutil.copy(fixtures / SMOLVLM / "generation_config.json", folder)
    return folder
