"""Random-initialised diffusers pipelines, built from configs and saved as model folders: what
the tests and benchmarks load through the same code path real weights take.

Every builder makes the pipeline's components from small configs (no download, no network),
saves it with ``save_pretrained(folder, safe_serialization=True)`` and returns the folder. The
models are random: their images are noise, but they have a real pipeline's shapes, files and
code path. At the default ``width`` they load in well under a second; ``make_text_to_image``
takes a larger ``width`` (channels x width) for a model that takes a while to load, as
``continuum bench hotreload`` needs.

| builder | pipeline | latent grid |
|---|---|---|
| ``make_text_to_image`` | StableDiffusionPipeline | 1/2 of the image |
| ``make_text_to_image_xl`` | StableDiffusionXLPipeline | 1/2 of the image |
| ``make_image_edit`` | StableDiffusionInstructPix2PixPipeline (UNet in_channels 8) | 1/2 |
| ``make_image_to_video`` | StableVideoDiffusionPipeline | 1/2 |
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLTemporalDecoder,
    DDIMScheduler,
    EulerDiscreteScheduler,
    StableDiffusionInstructPix2PixPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    StableVideoDiffusionPipeline,
    UNet2DConditionModel,
    UNetSpatioTemporalConditionModel,
)
from transformers import (
    CLIPImageProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

TEXT_HIDDEN = 16  # the text encoder's width: the UNet's cross-attention width
VOCAB_SIZE = 600  # 2 x 256 byte symbols and the two special tokens fit


def make_text_to_image(folder: Path, *, width: int = 1) -> Path:
    """A StableDiffusionPipeline (no safety checker) saved in ``folder``: tiny, or with
    ``width`` times the UNet's and the VAE's channels."""
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        vae=_vae(width),
        text_encoder=CLIPTextModel(_text_config()),
        tokenizer=_tokenizer(),
        unet=_unet(in_channels=4, width=width),
        scheduler=_ddim(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return _save(pipe, folder)


def make_text_to_image_xl(folder: Path) -> Path:
    """A tiny StableDiffusionXLPipeline (two text encoders) saved in ``folder``."""
    torch.manual_seed(0)
    time_dim, projection = 4, 8
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32),
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=2 * TEXT_HIDDEN,  # both encoders' hidden states, concatenated
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=projection + 6 * time_dim,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_text_config()),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(projection_dim=projection)),
        tokenizer=_tokenizer(),
        tokenizer_2=_tokenizer(),
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
        ),
        force_zeros_for_empty_prompt=True,
    )
    return _save(pipe, folder)


def make_image_edit(folder: Path) -> Path:
    """A tiny StableDiffusionInstructPix2PixPipeline saved in ``folder``: its UNet takes the
    noisy latents and the input image's latents (4 + 4 channels)."""
    torch.manual_seed(0)
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_text_config()),
        tokenizer=_tokenizer(),
        unet=_unet(in_channels=8),
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return _save(pipe, folder)


def make_image_to_video(folder: Path) -> Path:
    """A tiny StableVideoDiffusionPipeline saved in ``folder``."""
    torch.manual_seed(0)
    embed, time_dim = 16, 4
    unet = UNetSpatioTemporalConditionModel(
        in_channels=8,  # noisy latents and the conditioning image's latents
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        block_out_channels=(32, 64),  # its group norms have 32 groups
        addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=3 * time_dim,  # fps, motion bucket, noise aug
        layers_per_block=1,
        cross_attention_dim=embed,
        num_attention_heads=(2, 4),
        num_frames=4,
    )
    vae = AutoencoderKLTemporalDecoder(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=4,
    )
    vision = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            projection_dim=embed,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=224,  # the pipeline resizes its image to 224 for the encoder
            patch_size=56,
        )
    )
    processor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        interpolation_type="linear",
        use_karras_sigmas=True,
        timestep_type="continuous",
        sigma_min=0.002,
        sigma_max=700.0,
    )
    pipe = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=vision,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=processor,
    )
    return _save(pipe, folder)


def _save(pipe: object, folder: Path) -> Path:
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)  # type: ignore[attr-defined]
    return folder


def _unet(*, in_channels: int, width: int = 1) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16 * width, 32 * width),
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        attention_head_dim=4,
    )


def _vae(width: int = 1) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8 * width, 16 * width),
        norm_num_groups=4,
        layers_per_block=1,
        latent_channels=4,
        sample_size=32,
    )


def _ddim() -> DDIMScheduler:
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def _text_config(**extra: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        **extra,
    )


def _tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP tokenizer without merges: every character is a token (built offline;
    transformers 5 takes the vocabulary as a dict)."""
    symbols = _byte_symbols()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _byte_symbols() -> list[str]:
    """The 256 printable characters byte-level BPE maps bytes to (GPT-2's table)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    extra = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]
