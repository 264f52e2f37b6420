"""A local transformers image-text-to-text model (Qwen2.5-VL, SmolVLM/Idefics3, LLaVA-OneVision...).

Loaded with ``AutoProcessor`` + ``AutoModelForImageTextToText`` from a folder or the local
Hugging Face cache, never from the network. It only runs conversations: the paper's prompt
and the reading of the answers live in :mod:`sonicvision.server.describe.vlm`. Prompts go
through the model's own chat template, batched with left padding (decoder-only generation
continues from the last token of each row).

Frames are video frames, not documents: processors that upscale and tile an image
(Idefics3/SmolVLM: longest edge to ``size`` 2048 px, then 512 px tiles, 13 per frame) are asked
for one image per frame at the vision encoder's own size (``max_image_size``, no splitting),
as SmolVLM treats its own video frames.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    AutoVideoProcessor,
)

from sonicvision.errors import ConfigError

from .device import torch_device

logger = logging.getLogger(__name__)

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}

# Image processor names that Qwen2.5-VL fine-tunes (saved with the transformers 4.49 previews)
# carry in preprocessor_config.json, and the class transformers actually has for them.
IMAGE_PROCESSOR_ALIASES = {
    "Qwen2_5_VLImageProcessor": "Qwen2VLImageProcessor",
    "Qwen2_5_VLImageProcessorFast": "Qwen2VLImageProcessor",
}


@dataclass(frozen=True)
class Reply:
    """One decoded answer; ``truncated`` when it hit ``max_new_tokens`` before ending."""

    text: str
    truncated: bool


def _looks_like_path(source: str) -> bool:
    return source.startswith((".", "/", "~", "\\")) or Path(source).expanduser().exists()


def _hf_cache() -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return str(HF_HUB_CACHE)


class LocalVLM:
    """Runs chats with images through one processor + model pair; decoding greedy by default."""

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        *,
        name: str = "vlm",
        max_new_tokens: int = 96,
        do_sample: bool = False,
    ) -> None:
        if getattr(processor, "chat_template", None) is None:
            raise ConfigError(
                f"the processor of {name!r} has no chat template; use an instruct/chat model",
                field="describer",
            )
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.max_new_tokens = max_new_tokens
        self.do_sample = do_sample
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.image_token: str | None = getattr(processor, "image_token", None)
        self.image_kwargs = frame_image_kwargs(processor)
        self._stop_ids = self._stop_token_ids()

    @classmethod
    def load(
        cls,
        source: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_new_tokens: int = 96,
        do_sample: bool = False,
    ) -> LocalVLM:
        """From a folder or the local HF cache (``local_files_only``); bf16 on a GPU by default."""
        device = str(torch_device(device))
        if dtype is None:
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        if dtype not in _DTYPES:
            raise ConfigError(f"dtype {dtype!r}; choices: {', '.join(_DTYPES)}", field="describer")
        local = _looks_like_path(source)
        where = str(Path(source).expanduser()) if local else source
        if local and not Path(where).is_dir():
            raise ConfigError("Vision-language model folder not found.", path=where)
        try:
            processor = load_processor(where)
            model = AutoModelForImageTextToText.from_pretrained(
                where, local_files_only=True, dtype=_DTYPES[dtype]
            )
        except (OSError, ValueError) as exc:
            if local:
                raise ConfigError(
                    "The folder does not hold a complete transformers image-text-to-text model "
                    f"(config.json, processor files, weights): {exc}",
                    path=where,
                ) from exc
            if isinstance(exc, ValueError):
                raise ConfigError(
                    f"{source!r} is not an image-text-to-text model transformers can load: {exc}",
                    field="describer",
                ) from exc
            raise ConfigError(
                f"The vision-language model {source!r} is not on this machine: it is not a "
                f"folder and not in the Hugging Face cache ({_hf_cache()}). SonicVision never "
                f"downloads at run time; fetch it once with `huggingface-cli download {source}` "
                f"(or `hf download {source}`), or pass a folder: --describer vlm:/path/to/model.",
                field="describer",
            ) from exc
        return cls(
            model.to(device),
            processor,
            name=source,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
        )

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    def _stop_token_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (
            getattr(self.model.generation_config, "eos_token_id", None),
            self.processor.tokenizer.eos_token_id,
            self.processor.tokenizer.pad_token_id,
        ):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(int(v) for v in value)
        return ids

    def render(self, conversations: Sequence[list[dict]]) -> list[str]:
        """The chat-templated prompt text of each conversation (what the model reads)."""
        return [
            self.processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
            for c in conversations
        ]

    def prepare(self, conversations: Sequence[list[dict]], images: Sequence[Sequence[np.ndarray]]):
        """Token ids, attention mask and pixel values of a batch (RGB uint8 frames), on device."""
        model_param = next(self.model.parameters())
        inputs = self.processor(
            text=self.render(conversations),
            images=[[Image.fromarray(frame) for frame in row] for row in images],
            return_tensors="pt",
            padding=True,
            **self.image_kwargs,
        )
        return inputs.to(model_param.device, dtype=model_param.dtype)

    @torch.inference_mode()
    def generate(
        self, conversations: Sequence[list[dict]], images: Sequence[Sequence[np.ndarray]]
    ) -> list[Reply]:
        """One reply per conversation, generated as one batch."""
        if not conversations:
            return []
        inputs = self.prepare(conversations, images)
        sampling = {"do_sample": True} if self.do_sample else {"do_sample": False, "num_beams": 1}
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, **sampling)
        new = out[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        replies = []
        for row, text in zip(new.tolist(), texts, strict=True):
            ended = any(t in self._stop_ids for t in row)
            replies.append(Reply(text, truncated=len(row) >= self.max_new_tokens and not ended))
        return replies


def frame_image_kwargs(processor) -> dict:
    """Processor arguments that keep a video frame one image at the vision encoder's size.

    Idefics3/SmolVLM split every image into ``max_image_size`` tiles after upscaling its longest
    edge to ``size`` (SmolVLM-256M: 2048 px, 4 x 3 tiles + a global image = 13 vision passes
    and ~830 tokens per frame); without splitting a frame is one 512 px image, 64 tokens.
    """
    image = getattr(processor, "image_processor", None)
    if image is None or not hasattr(image, "do_image_splitting"):
        return {}
    max_size = getattr(image, "max_image_size", None) or {}
    edge = max_size.get("longest_edge") if isinstance(max_size, dict) else None
    kwargs: dict = {"do_image_splitting": False}
    if edge:
        kwargs["size"] = {"longest_edge": int(edge)}
    return kwargs


def _processor_file(where: str, name: str) -> Path | None:
    folder = Path(where).expanduser()
    if folder.is_dir():
        path = folder / name
        return path if path.is_file() else None
    try:
        found = transformers.utils.cached_file(
            where, name, local_files_only=True, _raise_exceptions_for_missing_entries=False
        )
    except (OSError, ValueError):
        return None
    return Path(found) if found else None


def load_processor(where: str):
    """AutoProcessor, or, for a folder whose image processor has a name transformers lacks
    (``Qwen2_5_VLImageProcessor`` in many Qwen2.5-VL fine-tunes), the same processor built
    from its parts with the class that name stands for."""
    image = _aliased_image_processor(where)
    if image is None:
        return AutoProcessor.from_pretrained(where, local_files_only=True)
    processor_class, image_processor = image
    parts: dict = {
        "image_processor": image_processor,
        "tokenizer": AutoTokenizer.from_pretrained(where, local_files_only=True),
    }
    if "video_processor" in processor_class.get_attributes():
        parts["video_processor"] = AutoVideoProcessor.from_pretrained(where, local_files_only=True)
    template = getattr(parts["tokenizer"], "chat_template", None)
    return processor_class(**parts, chat_template=template)


def _aliased_image_processor(where: str):
    """(processor class, image processor) when preprocessor_config.json names an alias."""
    path = _processor_file(where, "preprocessor_config.json")
    if path is None:
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    alias = IMAGE_PROCESSOR_ALIASES.get(str(config.get("image_processor_type")))
    if alias is None:
        return None
    logger.info("%s names %s; loading it as %s", path, config["image_processor_type"], alias)
    names = ("image_processor_type", "processor_class")
    settings = {k: v for k, v in config.items() if k not in names}
    processor_class = getattr(transformers, str(config.get("processor_class")), None)
    if processor_class is None:
        processor_class = transformers.Qwen2_5_VLProcessor
    return processor_class, getattr(transformers, alias)(**settings)
