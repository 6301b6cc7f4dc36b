"""Camera frames -> GNM input tensors, exactly as the model was trained (PIL resize, ImageNet norm)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_IMAGE_SIZE = (85, 64)  # (width, height), as in the GNM configs


def center_crop_4_3(rgb: np.ndarray) -> np.ndarray:
    """Crop the centre to a 4:3 aspect ratio, as the training data loader did."""
    h, w = rgb.shape[:2]
    if w * 3 > h * 4:
        new_w = (h * 4) // 3
        x0 = (w - new_w) // 2
        return rgb[:, x0:x0 + new_w]
    if w * 3 < h * 4:
        new_h = (w * 3) // 4
        y0 = (h - new_h) // 2
        return rgb[y0:y0 + new_h]
    return rgb


def preprocess_frame(rgb: np.ndarray, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
                     center_crop: bool = False) -> np.ndarray:
    """One RGB uint8 HxWx3 frame -> normalised float32 [3, H, W] (image_size is (width, height))."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got {rgb.dtype} {rgb.shape}")
    if center_crop:
        rgb = center_crop_4_3(rgb)
    size = (int(image_size[0]), int(image_size[1]))
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size), dtype=np.float32)
    normalised = (resized * np.float32(1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def stack_frames(processed: Sequence[np.ndarray]) -> np.ndarray:
    """Preprocessed [3, H, W] frames (oldest first) -> [1, 3*len, H, W] float32."""
    return np.concatenate(processed, axis=0)[None].astype(np.float32, copy=False)


def to_model_input(frames: Sequence[np.ndarray], image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
                   center_crop: bool = False) -> np.ndarray:
    """RGB uint8 HxWx3 frames (oldest first) -> the float32 [1, 3*len(frames), H, W] model input."""
    if len(frames) == 0:
        raise ValueError("to_model_input needs at least one frame")
    return stack_frames([preprocess_frame(f, image_size, center_crop) for f in frames])
